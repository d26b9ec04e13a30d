"""Wire formats, one module per boundary, each ending with its codec.

- ``events``: the agent events users watch (bus subject ``user.<id>.events`` and socket frames)
- ``frames``: the other client <-> gateway WebSocket frames
- ``runs``:   gateway -> agent run submission (NATS request/reply)
- ``tools``:  agent -> tool runner calls (NATS request/reply)
- ``auth``:   the auth service's HTTP bodies
- ``keys``:   the auth service's public keys as JWKS (HTTP, and NATS ``auth.jwks``)
- ``revocation``: auth -> gateways, ``auth.revoked.<user_id>`` (which tokens stop working)
"""
