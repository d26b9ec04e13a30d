"""The client's exceptions, under one root::

AgentwireError (code, message)
 ├── AuthError        the auth service refused (email_taken, invalid_credentials, ...)
 ├── ServerError      an ``error`` frame answered a request
 ├── Unauthorized     the socket was closed with 4401 (and a refresh did not help): log in again
 │    └── SessionRevoked  closed with 4403: the session was ended (logout elsewhere, revoke)
 └── ConnectionLost   the socket closed for good (4400-4499, or reconnecting is off)
"""

from __future__ import annotations

__all__ = [
    "AgentwireError",
    "AuthError",
    "ConnectionLost",
    "ServerError",
    "SessionRevoked",
    "Unauthorized",
]


class AgentwireError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AuthError(AgentwireError):
    pass


class ServerError(AgentwireError):
    pass


class Unauthorized(AgentwireError):
    pass


class SessionRevoked(Unauthorized):
    pass


class ConnectionLost(AgentwireError):
    pass
