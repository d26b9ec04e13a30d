"""Wire formats, one module per boundary, each ending with its codec.

- ``events``: the agent events users watch (bus subject ``user.<id>.events`` and socket frames)
- ``frames``: the other client <-> gateway WebSocket frames
- ``intake``: gateway -> agents, a chat message stored for a run (the RUNS work-queue stream)
- ``runs``:   gateway -> agent cancels and lists (NATS request/reply), and the run_accepted answer
- ``tools``:  agent -> tool runner calls (NATS request/reply)
- ``auth``:   the auth service's HTTP bodies
- ``keys``:   the auth service's public keys as JWKS (HTTP, and NATS ``auth.jwks``)
- ``revocation``: auth -> gateways, ``auth.revoked.<user_id>`` (which tokens stop working)
"""
