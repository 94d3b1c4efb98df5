"""Funding reports (monitoring, outcomes, financial evidence) computed from projections.

Pure report logic lives here (periods, cells, suppression, the report definitions,
formats and charts); reading rows from read models or by replaying events is in
``reports.sources``, storing runs in ``reports.runs``. Nothing here imports FastAPI.
"""
