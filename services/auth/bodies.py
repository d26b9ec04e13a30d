"""Decoding request bodies from raw bytes into the structs of :mod:`shared.wire.auth`.

Bodies are decoded here with msgspec rather than by Litestar's signature model, so every bad
body, however bad, becomes our own readable 400: invalid JSON, invalid UTF-8, nesting too deep
for the decoder, wrong types, missing fields, or values outside the rules.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from services.auth.service import InvalidRequest, normalise_email
from shared.wire.auth import Credentials, LoginCredentials

__all__ = ["parse_body", "parse_credentials"]

_Body = TypeVar("_Body")
_Credentials = TypeVar("_Credentials", Credentials, LoginCredentials)

_LOCATION = re.compile(r"^(?P<what>.*) - at `\$\.?(?P<field>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")
# What msgspec raises besides DecodeError: bytes that are not UTF-8, and a nesting so deep that
# it runs out of stack (a 16 KiB body of ``[`` does).
_UNDECODABLE = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _describe(exc: msgspec.ValidationError) -> str:
    """Turn msgspec's "Expected ... - at `$.password`" into "password: Expected ..."."""
    if missing := _MISSING.match(str(exc)):
        return f"{missing['field']}: required field is missing"
    match = _LOCATION.match(str(exc))
    if match is None:
        return f"body: {exc}"
    what, field = match["what"], match["field"] or "body"
    if field == "email" and "regex" in what:
        what = "Expected an email address like `name@example.com`"
    elif field == "refresh_token" and "regex" in what:
        what = "not a refresh token"
    return f"{field}: {what}"


def _not_json(exc: Exception) -> InvalidRequest:
    reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
    return InvalidRequest(f"body: not valid JSON ({reason})")


def parse_body(raw: bytes, shape: type[_Body]) -> _Body:
    """Decode ``raw`` as ``shape`` or raise InvalidRequest naming the field at fault."""
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from None
    except _UNDECODABLE as exc:
        raise _not_json(exc) from None


def parse_credentials(raw: bytes, shape: type[_Credentials]) -> _Credentials:
    """Decode ``{"email", "password"}``, normalising the email first, or raise InvalidRequest."""
    try:
        data = msgspec.json.decode(raw)
    except _UNDECODABLE as exc:
        raise _not_json(exc) from None
    if isinstance(data, dict) and isinstance(data.get("email"), str):
        data["email"] = normalise_email(data["email"])
    try:
        return msgspec.convert(data, shape)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from None
