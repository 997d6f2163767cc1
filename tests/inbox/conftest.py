from __future__ import annotations

import copy
import gzip
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.relay import assert_valid_event
from tripwire.inbox.runner import BackgroundInbox
from tripwire.inbox.storage import Storage


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with Storage(tmp_path / "inbox.sqlite3") as opened:
        yield opened


@pytest.fixture
def inbox(storage: Storage) -> Iterator[BackgroundInbox]:
    with BackgroundInbox(storage) as running:
        yield running


def make_event(
    exc_type: str = "ValueError",
    value: str = "bad value 42",
    *,
    functions: tuple[str, ...] = ("handle", "compute"),
    lineno: int = 10,
    **fields: Any,
) -> dict[str, Any]:
    """A realistic error event as an SDK sends it; checked against Relay's normaliser."""
    frames = [
        {
            "filename": "app/views.py",
            "abs_path": "/srv/app/app/views.py",
            "module": "app.views",
            "function": name,
            "lineno": lineno + index,
            "context_line": f"    return {name}(request)",
            "pre_context": ["def view(request):", "    user = request.user"],
            "post_context": [""],
            "vars": {"request": "<Request '/'>", "count": "3"},
            "in_app": True,
        }
        for index, name in enumerate(functions)
    ]
    frames.insert(
        0,
        {
            "filename": "lib/server.py",
            "abs_path": "/usr/lib/python3/site-packages/lib/server.py",
            "module": "lib.server",
            "function": "dispatch",
            "lineno": 99,
            "in_app": False,
        },
    )
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "timestamp": "2026-11-27T03:00:00.000000Z",
        "platform": "python",
        "level": "error",
        "exception": {
            "values": [
                {
                    "type": exc_type,
                    "value": value,
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {"frames": frames},
                }
            ]
        },
        "tags": {"checkout_step": "pay"},
        "environment": "production",
        "release": "shop@1.0",
        "breadcrumbs": {"values": [{"message": "cart loaded", "category": "shop"}]},
    }
    event.update(fields)
    assert_valid_event(event)
    return event


def distinct_errors(count: int) -> list[dict[str, Any]]:
    """``count`` events of as many issues (one checked event, copied with new types)."""
    template = make_event()
    events = []
    for number in range(count):
        event = copy.deepcopy(template)
        event["event_id"] = uuid.uuid4().hex
        event["exception"]["values"][0]["type"] = f"Error{number}"
        events.append(event)
    return events


def envelope(*events: dict[str, Any], headers: dict[str, Any] | None = None) -> bytes:
    """Envelope bytes as the SDK writes them (length on every item)."""
    first = dict(headers or {})
    if events and "event_id" not in first:
        first["event_id"] = events[0]["event_id"]
    parts = [json.dumps(first).encode()]
    for event in events:
        payload = json.dumps(event).encode()
        parts.append(json.dumps({"type": "event", "length": len(payload)}).encode())
        parts.append(payload)
    return b"\n".join(parts) + b"\n"


def post(
    url: str,
    body: bytes,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    gzipped: bool = False,
) -> Reply:
    """POST over real HTTP; any status comes back as a Reply."""
    sent = dict(headers or {})
    if key is not None:
        sent["X-Sentry-Auth"] = f"Sentry sentry_key={key}, sentry_version=7"
    if gzipped:
        body = gzip.compress(body)
        sent["Content-Encoding"] = "gzip"
    request = urllib.request.Request(url, data=body, headers=sent, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(
                response.status,
                json.loads(response.read()),
                {k.lower(): v for k, v in response.headers.items()},
            )
    except urllib.error.HTTPError as error:
        text = error.read()
        return Reply(
            error.code,
            json.loads(text) if text else {},
            {k.lower(): v for k, v in error.headers.items()},
        )


def envelope_url(inbox: BackgroundInbox, project_id: int = 1) -> str:
    return f"{inbox.url}/api/{project_id}/envelope/"


# Property tests judge behaviour, never speed: on a loaded machine Hypothesis's clocks (the
# per-example deadline, the "generation is too slow" health check) fail runs at random.
UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

_KEYS = st.sampled_from(
    [
        *("exception", "values", "stacktrace", "frames", "in_app", "type", "value", "module"),
        *("function", "filename", "lineno", "vars", "context_line", "pre_context", "mechanism"),
        *("source", "fingerprint", "logentry", "message", "formatted", "tags", "level"),
        *("timestamp", "threads", "breadcrumbs", "data", "contexts", "request", "headers"),
        *("user", "logger", "transaction", "release", "environment", "category"),
    ]
)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=40,
)


def event_shapes() -> st.SearchStrategy[dict[str, Any]]:
    """Event-like dicts of any shape: the right keys holding the wrong kinds of value."""
    return st.dictionaries(_KEYS, _JSON, max_size=8)
