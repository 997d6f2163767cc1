"""JSON in and out of the inbox: orjson when it is installed (several times faster on
20-frame events), the standard library otherwise, with the same results for valid input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "loads"]


def _stdlib_dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), check_circular=False).encode("utf-8")


_fast_dumps: Callable[[Any], bytes] | None
_fast_loads: Callable[[bytes], Any] | None
try:
    import orjson

    _fast_dumps, _fast_loads = orjson.dumps, orjson.loads
except ImportError:  # an optional speed-up
    _fast_dumps = _fast_loads = None


def dumps(value: object) -> bytes:
    """Compact JSON bytes; raises ``TypeError``/``ValueError`` for what JSON cannot hold."""
    if _fast_dumps is not None:
        try:
            return _fast_dumps(value)
        except TypeError:  # e.g. non-string keys or ints past 64 bits: let json decide
            pass
    return _stdlib_dumps(value)


def loads(data: bytes) -> Any:
    """Parse JSON; raises ``ValueError`` (or ``RecursionError``) with json's own message."""
    if _fast_loads is not None:
        try:
            return _fast_loads(data)
        except ValueError:  # NaN, deep nesting...: json accepts some and explains the rest
            pass
    return json.loads(data)
