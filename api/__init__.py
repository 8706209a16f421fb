"""The HTTP API (FastAPI) and the ``crm`` command line."""
