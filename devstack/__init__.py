"""Running agentwire locally: the embedded nats-server, keys, and the service processes.

Used by ``./dev up`` and by the integration tests, so both start the stack the same way.
"""
