"""Validation of command fields: a malformed command is a BadRequest, never a crash."""

from __future__ import annotations

from typing import Any

from zennode.errors import BadRequest


def int_field(
    cmd: dict[str, Any], name: str, *, minimum: int = 0, default: int | None = None
) -> int:
    value = cmd.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer")
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}")
    return value


def optional_int(cmd: dict[str, Any], name: str, *, minimum: int = 0) -> int | None:
    if cmd.get(name) is None:
        return None
    return int_field(cmd, name, minimum=minimum)


def str_field(cmd: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = cmd.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise BadRequest(f"{name} must be a non-empty string")
    return value


def required_str(cmd: dict[str, Any], name: str) -> str:
    """A non-empty string field (BadRequest when missing, empty or not a string)."""
    value = cmd.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} must be a non-empty string")
    return value


def key_list(cmd: dict[str, Any], name: str, limit: int) -> list[int] | None:
    value = cmd.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > limit:
        raise BadRequest(f"{name} must be a list of at most {limit} keys")
    for key in value:
        if isinstance(key, bool) or not isinstance(key, int):
            raise BadRequest(f"{name} must hold integer keys")
    return value
