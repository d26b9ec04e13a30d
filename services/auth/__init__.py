"""The auth service: accounts and sessions over HTTP, the signed access tokens the gateway trusts.

app.py                 wiring, error bodies, lifespan (migrations, NATS, key reloads)
routes.py              the HTTP routes: decode, call the service, encode
bodies.py              request bodies from raw bytes, every failure a readable 400
service.py             register, log in, refresh, log out, change password, revoke
ratelimit.py           failed-login limits per account and per address
proxies.py             the client's address: the TCP peer, or X-Forwarded-For from trusted proxies
tokens.py              Ed25519 (EdDSA) access-token signing, with the key id
keys.py                the signing key ring (a directory, or one key file) and its JWKS
refresh.py             refresh-token values and their hashes
bus.py                 NATS: answers auth.jwks, publishes auth.revoked.<user> and key changes
repository.py          the users table
refresh_repository.py  refresh tokens and their families
models.py              the schema, as the migrations leave it
migrate.py             Alembic, run from async code; migrations/ holds the revisions
passwords.py           argon2 hashing off the event loop
settings.py            everything read from the environment, once
"""

__all__: list[str] = []
