"""Alembic migrations of the auth schema; run them with ``python -m services.auth migrate``.

A package (with ``versions/`` one too) so a plain ``pip install .`` ships the files.
"""
