"""The four agentwire services, each runnable as `python -m services.<name>`."""
