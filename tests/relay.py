"""Relay's own event normaliser as the judge of every event the suite produces."""

from __future__ import annotations

import json
from typing import Any

from sentry_relay.processing import StoreNormalizer

__all__ = ["assert_valid_event"]

_normalizer = StoreNormalizer()


def _meta_errors(meta: object, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(meta, dict):
        for key, value in meta.items():
            if key == "" and isinstance(value, dict) and value.get("err"):
                found.append(f"{path or '<root>'}: {value['err']}")
            else:
                found.extend(_meta_errors(value, f"{path}.{key}" if path else str(key)))
    return found


def assert_valid_event(event: dict[str, Any]) -> dict[str, Any]:
    """Normalise ``event`` as Relay would; fail on any error. Returns the normalised event."""
    # Round-trip through JSON first: what the server sees is the wire form.
    wire = json.loads(json.dumps(event, allow_nan=False))
    normalized: dict[str, Any] = _normalizer.normalize_event(wire)
    errors = normalized.get("errors") or []
    assert not errors, f"Relay reported errors: {errors}"
    meta_errors = _meta_errors(normalized.get("_meta", {}))
    assert not meta_errors, f"Relay reported _meta errors: {meta_errors}"
    return normalized
