"""Read models: one module per question, each a pure fold from events to rows.

The runner (``runner.py``) applies batches of events to every read model and
records its position in the same transaction, so each event counts exactly once.
"""
