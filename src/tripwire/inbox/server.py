"""The inbox as an ASGI app: Sentry's ingest endpoints, Spotlight's ``/stream`` and the UI.

Every refusal is an ``IngestError`` raised somewhere below and answered by the one handler
here, with its status and a one-line reason (JSON ``detail`` and ``X-Sentry-Error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

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
from tripwire.inbox.records import Project, prepare
from tripwire.inbox.storage import Storage
from tripwire.inbox.writer import Writer

__all__ = ["Inbox", "create_app"]

# Past this the decoding runs on a worker thread, so a big body does not stall the loop.
_INLINE_DECODE_BYTES = 256 * 1024
# A refused body is still read (up to this much) so the sender gets to see the 413.
_MAX_DRAIN_BYTES = 512 * 1024 * 1024
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After",
}


class Inbox:
    """The app's state: storage, its writer, and the projects by public key."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.writer = Writer(storage)
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


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > MAX_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            too_large = True
        if too_large:
            chunks.clear()
            if size > _MAX_DRAIN_BYTES:
                break
        else:
            chunks.append(chunk)
    if too_large:
        raise PayloadTooLarge(f"body is over the {MAX_BODY_BYTES} byte limit")
    return b"".join(chunks)


def _decode(body: bytes, encoding: str | None, is_envelope: bool) -> Ingest:
    data = decode_body(body, encoding)
    return parse_envelope(data) if is_envelope else parse_store(data)


async def _ingest(request: Request, *, is_envelope: bool, project_id: int | None) -> Response:
    inbox: Inbox = request.app.state.inbox
    auth = parse_auth(request.headers.get("x-sentry-auth"), request.query_params.get("sentry_key"))
    if auth.public_key is None and project_id is not None and not is_envelope:
        raise Unauthorized("missing public key: send X-Sentry-Auth or ?sentry_key=")
    if auth.public_key is not None:
        inbox.authenticate(auth, Ingest(), project_id)  # refuse a bad key before reading
    body = await _read_body(request)
    encoding = request.headers.get("content-encoding")
    if len(body) > _INLINE_DECODE_BYTES:
        ingest = await anyio.to_thread.run_sync(_decode, body, encoding, is_envelope)
    else:
        ingest = _decode(body, encoding, is_envelope)
    project = inbox.authenticate(auth, ingest, project_id)
    if ingest.events or ingest.client_reports:
        prepared = [prepare(e, raw=raw) for e, raw in zip(ingest.events, ingest.raw, strict=True)]
        try:
            await inbox.writer.write(project.id, prepared, ingest.client_reports)
        except sqlite3.Error as exc:
            raise ServiceUnavailable(f"the database refused the write: {exc}") from None
    return JSONResponse({"id": ingest.event_id}, headers=_CORS)


async def envelope_endpoint(request: Request) -> Response:
    return await _ingest(request, is_envelope=True, project_id=request.path_params["project_id"])


async def store_endpoint(request: Request) -> Response:
    return await _ingest(request, is_envelope=False, project_id=request.path_params["project_id"])


async def stream_endpoint(request: Request) -> Response:
    """Spotlight's sidecar endpoint: envelopes without a key go to the default project."""
    return await _ingest(request, is_envelope=True, project_id=None)


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


async def ingest_error(request: Request, exc: Exception) -> Response:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    status = exc.status if isinstance(exc, IngestError) else 400
    return JSONResponse(
        {"detail": reason}, status_code=status, headers={**_CORS, "X-Sentry-Error": reason}
    )


def _ingest_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for name, endpoint in (("envelope", envelope_endpoint), ("store", store_endpoint)):
        for path in (f"/api/{{project_id:int}}/{name}/", f"/api/{{project_id:int}}/{name}"):
            routes.append(Route(path, endpoint, methods=["POST"]))
            routes.append(Route(path, preflight, methods=["OPTIONS"]))
    routes.append(Route("/stream", stream_endpoint, methods=["POST"]))
    routes.append(Route("/stream", preflight, methods=["OPTIONS"]))
    return routes


def create_app(storage: Storage, *, with_ui: bool = True) -> Starlette:
    """The inbox app over ``storage``; pruning runs while the app is served."""
    inbox = Inbox(storage)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        pruning = asyncio.ensure_future(inbox.writer.prune_periodically())
        try:
            yield {}
        finally:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning

    routes = _ingest_routes()
    if with_ui:
        from tripwire.inbox.ui.views import ui_routes

        routes.extend(ui_routes())
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={IngestError: ingest_error}
    )
    app.state.inbox = inbox
    return app
