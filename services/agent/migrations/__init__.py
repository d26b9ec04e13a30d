"""Alembic migrations of the agent schema; run them with ``python -m services.agent migrate``.

A package (with ``versions/`` one too) so a plain ``pip install .`` ships the files.
"""
