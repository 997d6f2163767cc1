"""Request data for events, collected under the ``send_default_pii`` rules (scrubbing.md §1).

The web integrations keep only a reference to the WSGI environ or ASGI scope per request; the
functions here run in an event processor, i.e. only when an event is captured. Collection
rules, not scrubbing: the scrubber runs on every event later in the client pipeline.
- Without ``send_default_pii``: no cookies, no client IP, no ``REMOTE_ADDR``, and the values of
  sensitive headers become ``"[Filtered]"`` with ``_meta`` ``{"rem": [["!config", "s"]]}``.
- The body is kept within ``max_request_body_size``: JSON and url-encoded forms are decoded,
  anything else is ``""`` annotated ``!raw``; a body over the limit is ``""`` annotated ``!config``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl

import tripwire
from tripwire.active import scope_pair
from tripwire.api import _internal_errors_logged
from tripwire.events.exceptions import event_from_exception
from tripwire.forks import DeferredForks
from tripwire.integrations._request_secrets import (
    FILTERED,
    is_sensitive_header,
    parse_cookies,
    redact_frame_variables,
    secret_values,
)
from tripwire.scrubber import scrubber_for
from tripwire.types import Event, EventProcessor, Hint

__all__ = [
    "FILTERED",
    "BodyRecorder",
    "Describe",
    "RequestFacts",
    "RequestState",
    "TransactionName",
    "add_request_to_event",
    "body_limit",
    "capture_request_failure",
    "collect_request",
    "decode_body",
    "header_name",
    "is_undecoded_body",
    "prepare_server_context",
]

_REMOVED_BY_CONFIG: dict[str, object] = {"rem": [["!config", "s"]]}
_OVER_LIMIT: dict[str, object] = {"rem": [["!config", "x"]]}
_NOT_DECODED: dict[str, object] = {"rem": [["!raw", "x"]]}

# Bytes per max_request_body_size value; None: no limit (scopes-and-options.md §4).
_BODY_LIMITS: dict[str, int | None] = {"never": 0, "small": 1000, "medium": 10_000, "always": None}

TransactionName = tuple[str, str]  # (name, transaction_info.source)


def body_limit(max_request_body_size: str) -> int | None:
    """The body size in bytes kept for ``max_request_body_size``; ``None`` means no limit."""
    return _BODY_LIMITS.get(max_request_body_size, 10_000)


def header_name(raw: str) -> str:
    """``x-api-key`` or ``X_API_KEY`` as it is usually written: ``X-Api-Key``."""
    return "-".join(part.capitalize() for part in raw.replace("_", "-").split("-"))


class BodyRecorder:
    """The first bytes of a request body as the application reads them, up to ``limit``.

    Runs on the request's thread; chunks are kept by reference and joined only at event time.
    """

    __slots__ = ("_chunks", "_size", "is_too_large", "limit")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        self.is_too_large = False

    @property
    def size(self) -> int:
        return self._size

    def add(self, chunk: bytes) -> None:
        if self.is_too_large or not chunk:
            return
        self._size += len(chunk)
        if self.limit is not None and self._size > self.limit:
            self.is_too_large = True
            self._chunks.clear()  # keep nothing of a body that will not be sent
            return
        self._chunks.append(chunk)

    def value(self) -> bytes:
        return b"".join(self._chunks)


def is_undecoded_body(request: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
    """Whether ``request.data`` is a body within the limit that ``decode_body`` could not read."""
    data_meta = meta.get("data")
    return (
        request.get("data") == ""
        and isinstance(data_meta, dict)
        and data_meta.get("") == _NOT_DECODED
    )


def decode_body(content_type: str, raw: bytes) -> tuple[object, dict[str, object] | None]:
    """Decode a body by its content type: JSON, url-encoded form, or ``""`` marked raw."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        try:
            decoded: object = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: hostile nesting
            return "", _NOT_DECODED
        return decoded, None
    if media_type == "application/x-www-form-urlencoded":
        form: dict[str, object] = {}
        text = raw.decode("utf-8", "replace")
        for name, value in parse_qsl(text, keep_blank_values=True):
            previous = form.get(name)
            if previous is None:
                form[name] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                form[name] = [previous, value]
        return form, None
    return "", _NOT_DECODED


class RequestFacts:
    """What a request looked like, read from an environ or an ASGI scope at event time."""

    __slots__ = ("env", "headers", "method", "query_string", "remote_addr", "url")

    def __init__(
        self,
        *,
        url: str,
        method: str | None,
        query_string: str,
        headers: Mapping[str, str],
        remote_addr: str | None,
        env: Mapping[str, str],
    ) -> None:
        self.url = url
        self.method = method
        self.query_string = query_string
        self.headers = headers
        self.remote_addr = remote_addr
        self.env = env

    def client_ip(self) -> str | None:
        """``X-Forwarded-For`` (first hop), then ``X-Real-Ip``, then the peer address."""
        forwarded = self.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
        return self.headers.get("X-Real-Ip") or self.remote_addr


def collect_request(
    facts: RequestFacts,
    *,
    send_default_pii: bool,
    body: bytes | None = None,
    is_body_over_limit: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event's ``request`` and its ``_meta`` under the collection rules."""
    request: dict[str, Any] = {"url": facts.url}
    meta: dict[str, Any] = {}
    if facts.method:
        request["method"] = facts.method
    if facts.query_string:
        request["query_string"] = facts.query_string
    headers: dict[str, str] = {}
    header_meta: dict[str, object] = {}
    for name, value in facts.headers.items():
        if not send_default_pii and is_sensitive_header(name):
            headers[name] = FILTERED
            header_meta[name] = {"": _REMOVED_BY_CONFIG}
        else:
            headers[name] = value
    if headers:
        request["headers"] = headers
    if header_meta:
        meta["headers"] = header_meta
    env = dict(facts.env)
    if send_default_pii:
        cookie = facts.headers.get("Cookie")
        if cookie:
            request["cookies"] = parse_cookies(cookie)
        if facts.remote_addr:
            env["REMOTE_ADDR"] = facts.remote_addr
    if env:
        request["env"] = env
    if is_body_over_limit:
        request["data"] = ""
        meta["data"] = {"": _OVER_LIMIT}
    elif body:
        data, data_meta = decode_body(facts.headers.get("Content-Type", ""), body)
        request["data"] = data
        if data_meta is not None:
            meta["data"] = {"": data_meta}
    return request, meta


def add_request_to_event(
    event: Event,
    request: Mapping[str, Any],
    meta: Mapping[str, Any],
    *,
    client_ip: str | None = None,
    transaction: TransactionName | None = None,
) -> Event:
    """Merge request data into ``event``; values already in the event win."""
    current = event.get("request")
    merged: dict[str, Any] = dict(request)
    if isinstance(current, dict):
        merged.update(current)
    event["request"] = merged
    if meta:
        all_meta = event.get("_meta")
        if not isinstance(all_meta, dict):
            all_meta = event["_meta"] = {}
        request_meta = all_meta.setdefault("request", {})
        if isinstance(request_meta, dict):
            for key, value in meta.items():
                if not isinstance(current, dict) or key not in current:
                    request_meta.setdefault(key, value)
    if client_ip:
        user = event.get("user")
        if not isinstance(user, dict):
            user = event["user"] = {}
        user.setdefault("ip_address", client_ip)  # an explicit set_user value wins
    if transaction is not None and not event.get("transaction"):
        event["transaction"] = transaction[0]
        event["transaction_info"] = {"source": transaction[1]}
    return event


def prepare_server_context() -> None:
    """Give the calling context its scopes now, so that tasks started from it inherit them.

    Called where an app is wrapped (usually the main thread, before the server's event loop
    starts): without it every request's task would make a pair of scopes of its own first.
    """
    scope_pair()


def _is_reportable(error: BaseException) -> bool:
    if isinstance(error, SystemExit):
        return error.code not in (0, None)
    # Cancellation and KeyboardInterrupt are how servers stop requests, not application bugs.
    return isinstance(error, Exception)


def capture_request_failure(
    error: BaseException, mechanism_type: str, *, handled: bool = False
) -> None:
    """Report ``error`` escaping a request or task (``mechanism.handled`` false). Never raises.

    Captured on the current scopes, so the request's isolation scope and its processor apply.
    """
    if not _is_reportable(error):
        return
    with _internal_errors_logged(capturing=True):
        client = tripwire.get_client()
        if not client.is_active():
            return
        event, hint = event_from_exception(
            error, client.config, mechanism={"type": mechanism_type, "handled": handled}
        )
        tripwire.capture_event(event, hint=hint)


class Describe(Protocol):
    """A framework's view of a request: may fill ``request`` (and its ``meta``); returns the
    transaction and the user (``None`` when it does not know them)."""

    def __call__(
        self,
        state: RequestState,
        request: dict[str, Any],
        meta: dict[str, Any],
        send_default_pii: bool,
    ) -> tuple[TransactionName | None, dict[str, object] | None]: ...


class RequestState(DeferredForks):
    """One request as the web integrations track it, shared by the WSGI and ASGI layers.

    It is also the request's pair of scopes: forks of the server's scopes, deferred until the
    request uses them (``tripwire.forks``), with ``process`` as an event processor and no
    breadcrumbs. A request that never touches its scopes costs this one object.
    ``framework_request`` is whatever a framework hook stored (a Django request, ...);
    ``captured`` is the exception reported already, so that a failure that a framework signal
    reported and that then escapes the middleware is sent once.
    """

    __slots__ = ("captured", "describe", "framework_request", "mechanism_type")

    def __init__(self, mechanism_type: str, describe: Describe | None) -> None:
        self._defer(scope_pair(), True)
        self.mechanism_type = mechanism_type
        self.describe = describe
        self.captured: BaseException | None = None
        self.framework_request: object = None

    def own_processors(self) -> tuple[EventProcessor, ...]:
        return (self.process,)

    def process(self, event: Event, hint: Hint) -> Event:
        """Event processor: add what is known of the request to ``event``."""
        raise NotImplementedError

    def adopt(self, mechanism_type: str, describe: Describe | None) -> None:
        """A framework inside an outer middleware knows the request better: use its view."""
        self.mechanism_type = mechanism_type
        if describe is not None:
            self.describe = describe

    def report(self, error: BaseException, *, handled: bool = False) -> None:
        """Report ``error`` unless this request reported it already. Never raises."""
        if error is not self.captured:
            self.captured = error
            capture_request_failure(error, self.mechanism_type, handled=handled)

    def finish_event(
        self,
        event: Event,
        facts: RequestFacts,
        request: dict[str, Any],
        meta: dict[str, Any],
        *,
        send_default_pii: bool,
        transaction: TransactionName,
    ) -> Event:
        """Add ``request``, the framework's transaction and user, and the client IP."""
        if self.describe is not None:
            described, user = self.describe(self, request, meta, send_default_pii)
            if described is not None:
                transaction = described
            if user:
                current = event.get("user")
                event["user"] = {**user, **current} if isinstance(current, dict) else user
        client = tripwire.get_client()
        is_secret_key = getattr(getattr(client, "scrubber", None), "is_secret_key", None)
        if not callable(is_secret_key):  # an event_scrubber of the user's own: the default rule
            is_secret_key = scrubber_for(client.config).is_secret_key
        secrets = secret_values(
            facts.headers,
            facts.remote_addr,
            facts.query_string,
            send_default_pii=send_default_pii,
            is_secret_key=is_secret_key,
        )
        redact_frame_variables(event, secrets)
        return add_request_to_event(
            event,
            request,
            meta,
            client_ip=facts.client_ip() if send_default_pii else None,
            transaction=transaction,
        )
