"""The inbox's HTTP connections: ingest POSTs answered directly, everything else by uvicorn.

SDKs post one small envelope per event, and uvicorn's per-request work (the ASGI scope,
a task, the request/response cycle, its messages) cost ~35 us of CPU more than reading the
request directly, a tenth of what the inbox spent on an event, all of it on the one thread
that also decodes and commits. A connection therefore starts in a lean mode that reads
requests itself: a POST to an ingest path with a ``Content-Length`` body of at most
INLINE_DECODE_BYTES and nothing unusual about it is decoded and queued for the writer
right there, and answered once committed, with the same checks and answers as the ASGI
endpoint (both call the functions in ``server``). The first request that is anything else
(a page, a preflight, a chunked or large body, ``Expect: 100-continue``, a head we would
rather not judge) hands the connection, from that request on, to uvicorn's own protocol,
which then serves it to the end. Requests on one connection are answered in order.

uvicorn's protocol is the base class, so the connection is registered with the server
(graceful shutdown waits for an answer being written), and its keep-alive timeout applies.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable, Iterable
from typing import Any

from tripwire.inbox.ingest import MAX_BODY_BYTES, IngestError
from tripwire.inbox.records import StoredEvent
from tripwire.inbox.server import (
    INLINE_DECODE_BYTES,
    JSON_HEADERS,
    Inbox,
    answer,
    check_request,
    decode,
    ingest_route,
    submit,
    write_error,
)

__all__ = ["MAX_HEAD_BYTES", "LeanRequest", "protocol_class", "read_request"]

MAX_HEAD_BYTES = 16 * 1024  # longer heads go to uvicorn, which has its own limits
_INTERNAL_ERROR: tuple[int, bytes, list[tuple[bytes, bytes]]] = (
    500,
    b'{"detail":"Internal Server Error"}',
    [],
)
logger = logging.getLogger(__name__)


class LeanRequest:
    """An ingest request read in full by the lean mode."""

    __slots__ = ("body", "headers", "is_envelope", "keep_alive", "project_id", "query")

    def __init__(
        self,
        route: tuple[bool, int | None],
        query: bytes,
        headers: dict[bytes, bytes],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self.is_envelope, self.project_id = route
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


def read_request(buffer: bytearray) -> LeanRequest | bool | None:
    """The first request in ``buffer`` if it is a lean one (its bytes are then removed);
    None when more bytes are needed to tell; False when it is not ours (uvicorn's)."""
    end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES)
    if end < 0:
        return None if len(buffer) < MAX_HEAD_BYTES else False
    request_line, *lines = bytes(buffer[:end]).split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0") or b"%" in parts[1]:
        return False
    path, _, query = parts[1].partition(b"?")
    route = ingest_route(parts[0].decode("latin-1"), path.decode("latin-1"))
    if route is None:
        return False
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or name.lower() in headers:
            return False  # folded, repeated or malformed: uvicorn's parser decides
        headers[name.lower()] = value.strip(b" \t")
    length = headers.get(b"content-length", b"")
    if (
        b"transfer-encoding" in headers
        or b"expect" in headers
        or b"upgrade" in headers
        or not length.isdigit()
        or int(length) > min(INLINE_DECODE_BYTES, MAX_BODY_BYTES)
    ):
        return False
    start = end + 4
    if len(buffer) < start + int(length):
        return None
    body = bytes(buffer[start : start + int(length)])
    del buffer[: start + int(length)]
    connection = headers.get(b"connection", b"").lower()
    keep_alive = b"close" not in connection and (
        parts[2] == b"HTTP/1.1" or b"keep-alive" in connection
    )
    return LeanRequest(route, query, headers, body, keep_alive)


def _response(
    status: int,
    body: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    keep_alive: bool,
) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (status, http.HTTPStatus(status).phrase.encode())]
    lines.extend(name + b": " + value for name, value in headers)
    lines.append(b"content-length: %d" % len(body))
    if not keep_alive:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _start(
    inbox: Inbox,
    request: LeanRequest,
    on_written: Callable[[asyncio.Future[list[StoredEvent]]], None],
) -> tuple[asyncio.Future[list[StoredEvent]] | None, str | None]:
    """Check, decode and queue ``request``: the writer's future (None: nothing to write;
    else ``on_written`` is called once it is done) and the event id to answer with.
    Raises ``IngestError``."""
    auth = check_request(
        inbox,
        request.header(b"x-sentry-auth"),
        request.query,
        is_envelope=request.is_envelope,
        project_id=request.project_id,
    )
    encoding = request.header(b"content-encoding")
    ingest = decode(request.body, encoding, request.is_envelope)
    written = submit(inbox, auth, request.project_id, request.body, encoding, ingest, on_written)
    return written, ingest.event_id


def protocol_class(inbox: Inbox, base: type[Any]) -> type[asyncio.Protocol]:
    """A connection protocol with the lean mode in front of ``base``, uvicorn's
    ``HttpToolsProtocol`` (or a subclass of it)."""

    class InboxProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._lean = True
            self._buffer = bytearray()
            self._answering: LeanRequest | None = None
            self._event_id: str | None = None
            self._close_after_answer = False

        def data_received(self, data: bytes) -> None:
            if not self._lean:
                super().data_received(data)
                return
            self._unset_keepalive_if_required()
            self._buffer += data
            self._serve()

        def _serve(self) -> None:
            while (
                self._lean
                and self._answering is None
                and self._buffer
                and not self.transport.is_closing()
            ):
                request = read_request(self._buffer)
                if request is None:
                    return
                if request is False:
                    self._lean = False
                    data, self._buffer = bytes(self._buffer), bytearray()
                    super().data_received(data)  # uvicorn takes it from here
                    return
                assert isinstance(request, LeanRequest)
                self._answering = request
                try:
                    written, event_id = _start(inbox, request, self._written)
                except IngestError as exc:
                    self._answer(answer(exc))
                    continue
                except Exception:  # a bug: answered like uvicorn answers one, a 500
                    logger.exception("an ingest request failed")
                    self._answer(_INTERNAL_ERROR)
                    continue
                if written is None:
                    self._answer(answer(event_id))
                else:
                    self._event_id = event_id  # answered by _written, once committed
                    return
            if len(self._buffer) > 4 * INLINE_DECODE_BYTES:
                self.flow.pause_reading()  # a pipelining client waits for its answers

        def _written(self, future: asyncio.Future[list[StoredEvent]]) -> None:
            if future.cancelled():  # nothing cancels it today; never answer 200 for it
                failure: BaseException | None = RuntimeError("the write was cancelled")
            else:
                failure = future.exception()
            if failure is None:
                self._answer(answer(self._event_id))
                self._serve()
                return
            outcome = write_error(failure)
            if isinstance(outcome, IngestError):
                self._answer(answer(outcome))
            else:
                logger.error("storing an event failed", exc_info=outcome)
                self._answer(_INTERNAL_ERROR)
            self._serve()

        def _answer(self, reply: tuple[int, bytes, list[tuple[bytes, bytes]]]) -> None:
            request, self._answering = self._answering, None
            assert request is not None
            keep_alive = request.keep_alive and not self._close_after_answer
            if self.transport.is_closing():
                return
            status, body, headers = reply
            # At once, not at the loop's next turn (runner's _CoalescedWrites waits for it).
            write = getattr(self.transport, "write_now", self.transport.write)
            write(
                _response(
                    status,
                    body,
                    [*self.server_state.default_headers, *JSON_HEADERS, *headers],
                    keep_alive,
                )
            )
            if keep_alive:
                self.on_response_complete()  # uvicorn's: counts it, resumes reading, keep-alive
            else:
                self._lean = False
                self.transport.close()

        def shutdown(self) -> None:
            if self._lean and self._answering is not None:
                self._close_after_answer = True  # the answer is written first
            else:
                super().shutdown()

    return InboxProtocol
