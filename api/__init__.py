"""The interfaces of Lotse: the HTTP API (FastAPI) and the ``lotse`` command line."""
