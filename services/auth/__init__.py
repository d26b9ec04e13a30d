"""The auth service: accounts over HTTP, and the signed access tokens the gateway trusts.

app.py         Litestar edge: decode bodies, map errors to ``{"error": {"code", "message"}}``
service.py     register and log in, as plain async logic
repository.py  the users table (the only SQLAlchemy code)
models.py      the schema, kept declarative so Alembic can adopt it
passwords.py   argon2 hashing off the event loop
tokens.py      Ed25519 (EdDSA) access-token signing
settings.py    everything read from the environment, once
"""

__all__: list[str] = []
