"""The inbox as an ASGI app: Sentry's ingest endpoints, Spotlight's ``/stream`` and the UI.

Ingest POSTs are answered by ``ingest_endpoint``, a plain ASGI function in front of the
Starlette app that serves the rest. Every refusal is an ``IngestError`` raised somewhere
below and answered there, with its status and a one-line reason (JSON ``detail`` and
``X-Sentry-Error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tripwire.inbox import codec
from tripwire.inbox.ingest import (
    MAX_BODY_BYTES,
    Auth,
    Forbidden,
    Ingest,
    IngestError,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    decode_body,
    parse_auth,
    parse_envelope,
    parse_store,
)
from tripwire.inbox.records import GZIP_MAGIC, Project, StoredEvent, prepare
from tripwire.inbox.storage import Storage
from tripwire.inbox.writer import MAX_QUEUED_EVENTS, Writer

__all__ = [
    "INLINE_DECODE_BYTES",
    "JSON_HEADERS",
    "Inbox",
    "InboxApp",
    "answer",
    "check_request",
    "create_app",
    "decode",
    "ingest_endpoint",
    "ingest_route",
    "submit",
    "write_error",
]

# Past this the decoding runs on a worker thread, so a big body does not stall the loop.
INLINE_DECODE_BYTES = 256 * 1024
# A refused body is still read (up to this much) so the sender gets to see the 413.
_MAX_DRAIN_BYTES = 512 * 1024 * 1024
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After",
}
JSON_HEADERS = [
    (b"content-type", b"application/json"),
    *((name.lower().encode(), value.encode()) for name, value in _CORS.items()),
]
# protocol.md §9: the trailing slash is optional.
_INGEST_PATH = re.compile(r"/api/([0-9]+)/(envelope|store)/?")


class Inbox:
    """The app's state: storage, its writer, and the projects by public key."""

    def __init__(self, storage: Storage, max_queued_events: int = MAX_QUEUED_EVENTS) -> None:
        self.storage = storage
        self.writer = Writer(storage, max_queued_events)
        self._projects: dict[str, Project] = {}

    def project_for(self, key: str) -> Project:
        project = self._projects.get(key)
        if project is None:
            project = self.storage.project_by_key(key)
            if project is None:
                raise Forbidden(f"unknown public key {key[:64]!r}")
            self._projects[key] = project
        return project

    def authenticate(self, auth: Auth, ingest: Ingest, project_id: int | None) -> Project:
        """The project the request may write to (protocol.md §3: all keys must agree)."""
        keys = {key for key in (auth.public_key, ingest.dsn_key) if key}
        if len(keys) > 1:
            raise Forbidden("the request and its envelope dsn name different public keys")
        if not keys:
            if project_id is None:  # Spotlight's /stream carries no key
                return self.storage.default_project()
            raise Unauthorized("missing public key: send X-Sentry-Auth, ?sentry_key= or a dsn")
        project = self.project_for(keys.pop())
        if project_id is not None and project.id != project_id:
            raise Forbidden(f"this key belongs to project {project.id}, not {project_id}")
        return project


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before its body arrived: there is no one to answer."""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _query_key(query: bytes) -> str | None:
    if b"sentry_key" not in query:
        return None
    keys = {value for name, value in parse_qsl(query.decode("latin-1")) if name == "sentry_key"}
    if len(keys) > 1:
        raise Forbidden("the query string names different keys")
    return keys.pop() if keys else None


def ingest_route(method: str, path: str) -> tuple[bool, int | None] | None:
    """``(is_envelope, project_id)`` when ``method path`` is an ingest POST, else None."""
    if method != "POST":
        return None
    if path == "/stream":
        return True, None  # Spotlight's: no key, the default project
    match = _INGEST_PATH.fullmatch(path)
    return None if match is None else (match[2] == "envelope", int(match[1]))


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    declared = _header(scope, b"content-length") or ""
    too_large = declared.isdigit() and int(declared) > MAX_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            too_large = True
        if too_large:
            chunks.clear()
            if size > _MAX_DRAIN_BYTES:
                break
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if too_large:
        raise PayloadTooLarge(f"body is over the {MAX_BODY_BYTES} byte limit")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decode(body: bytes, encoding: str | None, is_envelope: bool) -> Ingest:
    """Undo the body's ``Content-Encoding`` and parse it; raises ``IngestError``."""
    data = decode_body(body, encoding)
    return parse_envelope(data) if is_envelope else parse_store(data)


def _is_event_alone(ingest: Ingest, body: bytes, encoding: str | None) -> bool:
    """Whether ``body`` can be stored as it came: a gzipped envelope holding one event and
    nothing else, no bigger than the event (no trailing bytes past the gzip stream)."""
    return (
        ingest.is_envelope
        and len(ingest.events) == 1
        and not ingest.client_reports
        and not ingest.attachments
        and not ingest.skipped_items
        and body[:2] == GZIP_MAGIC
        and (encoding or "").strip().lower() == "gzip"
        and len(body) <= len(ingest.raw[0])
    )


def check_request(
    inbox: Inbox,
    auth_header: str | None,
    query: bytes,
    *,
    is_envelope: bool,
    project_id: int | None,
) -> Auth:
    """What is checked before the body is read: the key (refused before reading) and
    room in the write queue."""
    auth = parse_auth(auth_header, _query_key(query))
    if auth.public_key is None and project_id is not None and not is_envelope:
        raise Unauthorized("missing public key: send X-Sentry-Auth or ?sentry_key=")
    if auth.public_key is not None:
        inbox.authenticate(auth, Ingest(), project_id)
    inbox.writer.check_capacity()
    return auth


def submit(
    inbox: Inbox,
    auth: Auth,
    project_id: int | None,
    body: bytes,
    encoding: str | None,
    ingest: Ingest,
    on_written: Callable[[asyncio.Future[list[StoredEvent]]], None] | None = None,
) -> asyncio.Future[list[StoredEvent]] | None:
    """Queue the decoded ``ingest`` for the writer; the future is done once it is
    committed (None: nothing to write; see ``Writer.submit`` for ``on_written``). Raises
    ``IngestError`` for a key that does not fit."""
    project = inbox.authenticate(auth, ingest, project_id)
    if not (ingest.events or ingest.client_reports):
        return None
    as_received = body if _is_event_alone(ingest, body, encoding) else None
    prepared = [
        prepare(e, raw=raw, gzipped_envelope=as_received, attachments=ingest.attachments)
        for e, raw in zip(ingest.events, ingest.raw, strict=True)
    ]
    return inbox.writer.submit(project.id, prepared, ingest.client_reports, on_written)


def write_error(exc: BaseException) -> BaseException:
    """What a failed write answers: the database's refusal is a 503."""
    if isinstance(exc, sqlite3.Error):
        return ServiceUnavailable(f"the database refused the write: {exc}")
    return exc


async def _ingest(
    inbox: Inbox, scope: Scope, receive: Receive, *, is_envelope: bool, project_id: int | None
) -> str | None:
    """Read, check and store one request's body; returns the event id to answer with."""
    auth = check_request(
        inbox,
        _header(scope, b"x-sentry-auth"),
        scope.get("query_string", b""),
        is_envelope=is_envelope,
        project_id=project_id,
    )
    body = await _read_body(scope, receive)
    encoding = _header(scope, b"content-encoding")
    if len(body) > INLINE_DECODE_BYTES:
        ingest = await anyio.to_thread.run_sync(decode, body, encoding, is_envelope)
    else:
        ingest = decode(body, encoding, is_envelope)
    written = submit(inbox, auth, project_id, body, encoding, ingest)
    if written is not None:
        try:
            await written
        except sqlite3.Error as exc:
            raise write_error(exc) from None
    return ingest.event_id


def answer(outcome: str | IngestError | None) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, JSON body and headers (past ``JSON_HEADERS`` and the length) answering an
    ingest request with ``outcome``: the event id (None: no event in it) or the refusal."""
    if isinstance(outcome, IngestError):
        reason = _reason(outcome)
        header = reason.encode("ascii", "backslashreplace")
        body = codec.dumps({"detail": reason})
        extra = [(k.lower().encode(), v.encode()) for k, v in outcome.headers.items()]
        return outcome.status, body, [(b"x-sentry-error", header), *extra]
    return 200, b'{"id":"%s"}' % outcome.encode() if outcome else b'{"id":null}', []


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *JSON_HEADERS,
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


async def ingest_endpoint(
    inbox: Inbox,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    is_envelope: bool,
    project_id: int | None,
) -> None:
    """Answer one ingest POST as a plain ASGI app: 200 ``{"id": ...}`` or the refusal."""
    try:
        outcome: str | IngestError | None = await _ingest(
            inbox, scope, receive, is_envelope=is_envelope, project_id=project_id
        )
    except IngestError as exc:
        outcome = exc
    except _Disconnected:
        return
    await _answer(send, *answer(outcome))


class InboxApp:
    """The ingest endpoints served directly, everything else by the Starlette app.

    Ingest is the hot path: SDKs post an envelope per event. Matching its few paths here
    skips Starlette's middleware, routing and request objects for each of them.
    """

    def __init__(self, inbox: Inbox, app: Starlette) -> None:
        self.inbox = inbox
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = ingest_route(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
        else:
            is_envelope, project_id = route
            await ingest_endpoint(
                self.inbox, scope, receive, send, is_envelope=is_envelope, project_id=project_id
            )


async def preflight(request: Request) -> Response:
    return Response(
        status_code=204,
        headers={
            **_CORS,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": request.headers.get(
                "access-control-request-headers", "*"
            ),
            "Access-Control-Max-Age": "3600",
        },
    )


def _ingest_routes() -> list[BaseRoute]:
    """Preflights; the POSTs themselves never reach Starlette (see ``InboxApp``)."""
    routes: list[BaseRoute] = []
    for name in ("envelope", "store"):
        for path in (f"/api/{{project_id:int}}/{name}/", f"/api/{{project_id:int}}/{name}"):
            routes.append(Route(path, preflight, methods=["OPTIONS"]))
    routes.append(Route("/stream", preflight, methods=["OPTIONS"]))
    return routes


def create_app(
    storage: Storage, *, with_ui: bool = True, max_queued_events: int = MAX_QUEUED_EVENTS
) -> InboxApp:
    """The inbox app over ``storage``; pruning runs while the app is served. Past
    ``max_queued_events`` waiting to be written, ingest answers 429."""
    inbox = Inbox(storage, max_queued_events)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        pruning = asyncio.ensure_future(inbox.writer.prune_periodically())
        try:
            yield {}
        finally:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
            inbox.writer.close()

    routes = _ingest_routes()
    if with_ui:
        from tripwire.inbox.ui.views import ui_routes

        routes.extend(ui_routes())
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.inbox = inbox
    return InboxApp(inbox, app)
