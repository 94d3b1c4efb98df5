"""The domain of Lotse: participants, their journeys, programme rules.

This package imports only the standard library and the eventsourcing library's
domain and application layers: no web framework, no SQL, no database driver.
"""
