"""What of a request must not reach an event, and keeping it out of frame variables.

The frames of the middleware and the framework hold the environ, the ASGI scope or the
framework's request as locals, and their reprs carry headers and the URL: Flask's
``<Request 'http://host/path?token=...' [GET]>``, an environ's ``'QUERY_STRING': 'token=...'``.
Under the names ``environ`` or ``req`` the scrubber's key rules cannot see those values, so
the request integrations look for them by value (runs in an event processor, at event time):

- without ``send_default_pii``: sensitive header values (and their parts: credentials, cookie
  values, forwarded addresses) and the peer address;
- always: the values of secret query parameters (by the scrubber's key rule, which filters
  them in ``request.query_string`` too), as sent and decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from urllib.parse import unquote_plus

from tripwire.events.snapshot import PendingRepr
from tripwire.events.stacktraces import frame_lists
from tripwire.types import Event

__all__ = [
    "FILTERED",
    "SENSITIVE_HEADERS",
    "is_sensitive_header",
    "parse_cookies",
    "redact_frame_variables",
    "secret_values",
]

FILTERED = "[Filtered]"

# Compared as ``name.upper().replace("-", "_")``: only sent with send_default_pii.
SENSITIVE_HEADERS = frozenset(
    {
        "AUTHORIZATION",
        "COOKIE",
        "PROXY_AUTHORIZATION",
        "SET_COOKIE",
        "X_API_KEY",
        "X_FORWARDED_FOR",
        "X_REAL_IP",
    }
)

# Shorter values are not looked for in frame variables: they would match unrelated text.
_MIN_SECRET_CHARS = 4


def is_sensitive_header(name: str) -> bool:
    """Whether the header ``name`` (any spelling) is only sent with ``send_default_pii``."""
    return name.upper().replace("-", "_") in SENSITIVE_HEADERS


def parse_cookies(header: str) -> dict[str, str]:
    """The ``name=value`` pairs of a ``Cookie`` header; malformed pairs are skipped."""
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if sep and name:
            cookies.setdefault(name, value.strip().strip('"'))
    return cookies


def secret_values(
    headers: Mapping[str, str],
    remote_addr: str | None,
    query_string: str,
    *,
    send_default_pii: bool,
    is_secret_key: Callable[[str], bool],
) -> list[str]:
    """The values to keep out of frame variables (see the module docstring); longest first."""
    found: set[str] = set()
    if not send_default_pii:
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            if key not in SENSITIVE_HEADERS:
                continue
            found.add(value.strip())
            if key in ("AUTHORIZATION", "PROXY_AUTHORIZATION"):
                found.add(value.strip().partition(" ")[2].strip())
            elif key in ("COOKIE", "SET_COOKIE"):
                found.update(parse_cookies(value).values())
            else:
                found.update(part.strip() for part in value.split(","))
        if remote_addr:
            found.add(remote_addr)
    for pair in query_string.split("&") if "=" in query_string else ():
        raw_name, _, raw_value = pair.partition("=")
        if raw_value and is_secret_key(unquote_plus(raw_name).strip()):
            found.update((raw_value, unquote_plus(raw_value)))
    return sorted((v for v in found if len(v) >= _MIN_SECRET_CHARS), key=len, reverse=True)


def redact_frame_variables(event: Event, secrets: list[str]) -> None:
    """Replace ``secrets`` inside the frame variables of ``event`` with ``"[Filtered]"``.

    A repr cut off inside a secret loses that prefix too. A repr left for the worker (a
    ``PendingRepr``) gets the same filter, applied when its text is made.
    """
    if not secrets:
        return
    redact = partial(_redacted, secrets=secrets)
    for frames in frame_lists(event):
        for frame in frames:
            variables = frame.get("vars") if isinstance(frame, dict) else None
            if isinstance(variables, dict):
                for name, text in variables.items():
                    if isinstance(text, str):
                        variables[name] = _redacted(text, secrets)
                    elif type(text) is PendingRepr:  # its text is made on the worker
                        variables[name] = text.then(redact)


def _redacted(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, FILTERED)
    if text.endswith("..."):  # safe_repr's cut: the kept part may end inside a secret
        kept = text[:-3]
        for secret in secrets:
            for length in range(len(secret) - 1, _MIN_SECRET_CHARS - 1, -1):
                if kept.endswith(secret[:length]):
                    return kept[:-length] + FILTERED + "..."
    return text
