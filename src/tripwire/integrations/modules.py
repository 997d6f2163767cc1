"""``event.modules``: the installed distributions and their versions.

Read once per process, at the first event (about 0.5 ms per installed distribution), on
that event's thread; every later event reuses the same mapping. Its JSON (1.7 KB of a
2.7 KB message event with 70 distributions installed) is encoded once too, and spliced into
each event's bytes on the worker (``encode_event_with_modules``).
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from typing import Any, ClassVar

from tripwire.budget import MIN_EVENT_BYTES, encode_event
from tripwire.integrations import Integration
from tripwire.types import Event

__all__ = [
    "ModulesIntegration",
    "add_modules",
    "encode_event_with_modules",
    "installed_distributions",
]

_cache: dict[str, str] | None = None
# (the mapping, b',"modules":{...}}'): the fragment ends the event object it is spliced into
_encoded: tuple[dict[str, str], bytes] | None = None


def installed_distributions() -> dict[str, str]:
    """``{lowercased distribution name: version}`` of everything installed (cached)."""
    global _cache
    if _cache is None:  # two threads may both read it once; no lock to hold across a fork
        found: dict[str, str] = {}
        for dist in metadata.distributions():
            name = dist.metadata["Name"]
            if name and dist.version:
                found[str(name).lower()] = str(dist.version)
        _cache = dict(sorted(found.items()))
    return _cache


class ModulesIntegration(Integration):
    """Adds ``modules`` to each event that has none (in the pipeline's last steps)."""

    identifier: ClassVar[str] = "modules"

    @staticmethod
    def setup_once() -> None:
        """Nothing to patch: the pipeline's ``add_process_data`` step adds ``modules``.

        That step runs after serialize and scrub, which need not walk this mapping (tripwire
        builds it, JSON-safe and free of secrets) on every event.
        """


def add_modules(event: Event) -> None:
    """Put the installed distributions on ``event`` unless it names its own."""
    if "modules" not in event:
        event["modules"] = dict(installed_distributions())


def _modules_fragment(installed: dict[str, str]) -> bytes:
    global _encoded
    encoded = _encoded
    if encoded is None or encoded[0] is not installed:
        text = json.dumps(installed, separators=(",", ":"), ensure_ascii=False)
        encoded = _encoded = (installed, b',"modules":' + text.encode("utf-8") + b"}")
    return encoded[1]


def encode_event_with_modules(event: dict[str, Any], max_bytes: int) -> bytes:
    """``encode_event(event, max_bytes)``, the same JSON but cheaper when ``event`` carries
    the installed distributions unchanged: their JSON, encoded once, is spliced in at the end.

    Runs on the worker thread. An event over the budget, or whose ``modules`` differ (a
    ``before_send`` changed them, or the event came with its own), is encoded as a whole.
    """
    installed = _cache
    modules = event.get("modules")
    if installed is None or modules is None or modules != installed:
        return encode_event(event, max_bytes)
    rest = encode_event(
        {key: value for key, value in event.items() if key != "modules"}, sys.maxsize
    )
    fragment = _modules_fragment(installed)
    if len(rest) + len(fragment) > max(max_bytes, MIN_EVENT_BYTES) or not rest.endswith(b"}"):
        return encode_event(event, max_bytes)  # over the budget: modules go first (budget.py)
    if rest == b"{}":
        return b"{" + fragment[1:]
    return rest[:-1] + fragment
