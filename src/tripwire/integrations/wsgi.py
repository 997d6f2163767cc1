"""WSGI: ``SentryWsgiMiddleware`` gives each request an isolation scope and reports failures.

Runs on the request's thread. Per request it makes one object, the request's state and its
deferred scopes (forked and given an event processor holding the environ only if the request
uses them); request data is read from the environ only when an event is captured. A
body within ``max_request_body_size`` is recorded by reference as the application reads it.
Flask and Django run their requests through ``run_wsgi`` with a ``describe`` hook of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import tripwire
from tripwire.active import enter, get_client, leave, restore
from tripwire.integrations._request import (
    BodyRecorder,
    Describe,
    RequestFacts,
    RequestState,
    body_limit,
    collect_request,
    header_name,
)
from tripwire.types import Event, Hint

__all__ = ["ENVIRON_KEY", "SentryWsgiMiddleware", "WsgiRequest", "facts_from_environ", "run_wsgi"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The environ key holding the request's WsgiRequest: nested middlewares find it there.
ENVIRON_KEY = "tripwire.request"


def _content_length(environ: dict[str, Any]) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _is_chunked(environ: dict[str, Any]) -> bool:
    # A body sent without Content-Length (Transfer-Encoding: chunked) can only be read to its
    # end on servers that de-chunk it and mark where it ends (PEP 3333's input_terminated).
    return (
        bool(environ.get("wsgi.input_terminated"))
        and "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    )


def _asks_for_bytes(size: tuple[Any, ...]) -> bool:
    return not size or size[0] is None or size[0] != 0


class _RecordingInput:
    """``wsgi.input`` that keeps what the application reads, within the body limit."""

    __slots__ = ("is_at_end", "is_bypassed", "recorder", "stream")

    def __init__(self, stream: Any, recorder: BodyRecorder) -> None:
        self.stream = stream
        self.recorder = recorder
        self.is_bypassed = False  # used in a way not recorded: never read the rest ourselves
        self.is_at_end = False  # a read found the end of the body

    def read(self, *size: Any) -> bytes:
        chunk: bytes = self.stream.read(*size)
        self.recorder.add(chunk)
        if not size or size[0] is None or size[0] < 0 or (not chunk and _asks_for_bytes(size)):
            self.is_at_end = True
        return chunk

    def readinto(self, buffer: Any) -> int | None:
        count: int | None = self.stream.readinto(buffer)
        if count:
            self.recorder.add(bytes(memoryview(buffer)[:count]))
        elif count == 0 and len(buffer):
            self.is_at_end = True
        return count

    def readline(self, *size: Any) -> bytes:
        line: bytes = self.stream.readline(*size)
        self.recorder.add(line)
        if not line and _asks_for_bytes(size):
            self.is_at_end = True
        return line

    def readlines(self, *hint: Any) -> list[bytes]:
        lines: list[bytes] = self.stream.readlines(*hint)
        for line in lines:
            self.recorder.add(line)
        if not hint or hint[0] is None or hint[0] <= 0:
            self.is_at_end = True
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def __getattr__(self, name: str) -> Any:
        self.is_bypassed = True
        return getattr(self.stream, name)


def facts_from_environ(environ: dict[str, Any], use_x_forwarded_for: bool = False) -> RequestFacts:
    """Read url, method, query, headers and peer address from a WSGI environ."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[header_name(key[5:])] = str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[header_name(key)] = str(value)
    scheme = str(environ.get("wsgi.url_scheme") or "http")
    host = headers.get("Host") or _server_host(environ, scheme)
    if use_x_forwarded_for:
        scheme = headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip() or scheme
        host = headers.get("X-Forwarded-Host", host).split(",")[0].strip() or host
    # PEP 3333: paths are bytes decoded as latin-1; re-encode them as a proper URL path.
    raw_path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    path = quote(raw_path.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=~%")
    env = {key: str(environ[key]) for key in ("SERVER_NAME", "SERVER_PORT") if environ.get(key)}
    return RequestFacts(
        url=f"{scheme}://{host}{path}",
        method=environ.get("REQUEST_METHOD"),
        query_string=str(environ.get("QUERY_STRING") or ""),
        headers=headers,
        remote_addr=environ.get("REMOTE_ADDR") or None,
        env=env,
    )


def _server_host(environ: dict[str, Any], scheme: str) -> str:
    name = str(environ.get("SERVER_NAME") or "localhost")
    port = str(environ.get("SERVER_PORT") or "")
    if port and (scheme, port) not in (("http", "80"), ("https", "443")):
        return f"{name}:{port}"
    return name


class WsgiRequest(RequestState):
    """One request: its environ and recorded body; ``process`` adds it to events."""

    __slots__ = ("environ", "input", "use_x_forwarded_for")

    def __init__(
        self,
        environ: dict[str, Any],
        mechanism_type: str,
        use_x_forwarded_for: bool,
        describe: Describe | None,
    ) -> None:
        RequestState.__init__(self, mechanism_type, describe)
        self.environ = environ
        self.use_x_forwarded_for = use_x_forwarded_for
        self.input: _RecordingInput | None = None

    def record_body(self, limit: int | None) -> None:
        """Record the body as the application reads it: one with a Content-Length within
        ``limit``, or a chunked one (its length is learnt as it is read)."""
        length = _content_length(self.environ)
        if limit == 0 or (length and limit is not None and length > limit):
            return
        if length or _is_chunked(self.environ):
            stream = self.environ.get("wsgi.input")
            if stream is not None:
                self.input = _RecordingInput(stream, BodyRecorder(limit))
                self.environ["wsgi.input"] = self.input

    def _body(self, limit: int | None) -> tuple[bytes | None, bool]:
        length = _content_length(self.environ)
        is_chunked = not length and _is_chunked(self.environ)
        if not length and not is_chunked:
            return None, False
        if self.input is None:
            return None, limit == 0 or (limit is not None and length > limit)
        recording = self.input
        recorder = recording.recorder
        if recorder.is_too_large:
            return None, True
        if recording.is_at_end if is_chunked else recorder.size >= length:
            return recorder.value(), False
        if self.captured is None or recording.is_bypassed:
            return None, False  # the application may still read it: never take it away
        # The failed application stopped reading (or never started): the rest waits on the
        # stream. Within the limit since Content-Length was checked; a chunked body is read
        # one byte past the limit at most, enough to tell that it is over.
        if not is_chunked:
            recorder.add(recording.stream.read(length - recorder.size))
        elif limit is None:
            recorder.add(recording.stream.read())
        else:
            recorder.add(recording.stream.read(limit + 1 - recorder.size))
        return (None, True) if recorder.is_too_large else (recorder.value(), False)

    def process(self, event: Event, hint: Hint) -> Event:
        """Event processor: add request data, client IP, transaction and user to ``event``."""
        config = tripwire.get_client().config
        pii = config.send_default_pii
        facts = facts_from_environ(self.environ, self.use_x_forwarded_for)
        body, is_over_limit = self._body(body_limit(config.max_request_body_size))
        request, meta = collect_request(
            facts, send_default_pii=pii, body=body, is_body_over_limit=is_over_limit
        )
        path = str(self.environ.get("SCRIPT_NAME", "")) + str(self.environ.get("PATH_INFO", ""))
        return self.finish_event(
            event,
            facts,
            request,
            meta,
            send_default_pii=pii,
            transaction=(path or "/", "url"),
        )


class _ReportingResponse:
    """The application's response iterable: failures while iterating or closing are reported."""

    __slots__ = ("_response", "_state")

    def __init__(self, response: Iterable[bytes], state: WsgiRequest) -> None:
        self._response = response
        self._state = state

    def __iter__(self) -> Iterator[bytes]:
        iterator = iter(self._response)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except BaseException as exc:
                self._report(exc)
                raise
            yield chunk

    def close(self) -> None:
        close = getattr(self._response, "close", None)
        try:
            if close is not None:
                close()
        except BaseException as exc:
            self._report(exc)
            raise
        finally:
            self._state.environ.pop(ENVIRON_KEY, None)  # the request ended: break the cycle

    def _report(self, error: BaseException) -> None:
        token = enter(self._state)  # iterated outside the request's scopes: back into them
        try:
            self._state.report(error)
        finally:
            leave(token)


class _Handling:
    """How requests of one WSGI app are handled: what ``_handle`` reads."""

    __slots__ = ("app", "describe", "mechanism_type", "use_x_forwarded_for")

    def __init__(
        self,
        app: WsgiApp,
        mechanism_type: str,
        use_x_forwarded_for: bool,
        describe: Describe | None,
    ) -> None:
        self.app = app
        self.mechanism_type = mechanism_type
        self.use_x_forwarded_for = use_x_forwarded_for
        self.describe = describe


def _handle(
    how: _Handling, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """Run one request in its own isolation scope; report and re-raise failures.

    ``SentryWsgiMiddleware.__call__`` is this function itself: one call per request.
    """
    app = how.app
    outer = environ.get(ENVIRON_KEY)
    if isinstance(outer, WsgiRequest):  # an outer middleware already handles this request
        if how.mechanism_type != "wsgi":
            outer.adopt(how.mechanism_type, how.describe)
        return app(environ, start_response)
    # No check of the client first: the request's scopes are deferred (cheaper than the check)
    # and a report asks the client first.
    state = WsgiRequest(environ, how.mechanism_type, how.use_x_forwarded_for, how.describe)
    environ[ENVIRON_KEY] = state
    if environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" in environ:  # a body, maybe
        client = get_client()
        if client.is_active():
            state.record_body(body_limit(client.config.max_request_body_size))
    token = enter(state)
    try:
        response = app(environ, start_response)
    except BaseException as exc:
        state.report(exc)
        raise
    finally:
        restore(token)  # set in this frame: the same context, and no Python call
    if type(response) in (list, tuple):
        environ.pop(ENVIRON_KEY, None)  # the state holds the environ: no cycle outlives us
        return response  # nothing can fail later; skip the wrapper
    file_wrapper = environ.get("wsgi.file_wrapper")
    if isinstance(file_wrapper, type) and isinstance(response, file_wrapper):
        environ.pop(ENVIRON_KEY, None)
        return response  # keep the server's sendfile path
    return _ReportingResponse(response, state)


def run_wsgi(
    app: WsgiApp,
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    *,
    mechanism_type: str = "wsgi",
    use_x_forwarded_for: bool = False,
    describe: Describe | None = None,
) -> Iterable[bytes]:
    """Run one request of ``app`` in its own isolation scope; report and re-raise failures."""
    how = _Handling(app, mechanism_type, use_x_forwarded_for, describe)
    return _handle(how, environ, start_response)


class SentryWsgiMiddleware(_Handling):
    """Wrap a WSGI app: an isolation scope per request, request data on events, failures
    reported with ``mechanism.handled = false`` and re-raised."""

    __slots__ = ("http_methods_to_capture", "span_origin")

    def __init__(
        self,
        app: WsgiApp,
        use_x_forwarded_for: bool = False,
        span_origin: str = "manual",
        http_methods_to_capture: tuple[str, ...] = (),
    ) -> None:
        super().__init__(app, "wsgi", use_x_forwarded_for, None)
        self.span_origin = span_origin  # accepted for compatibility: tripwire has no spans
        self.http_methods_to_capture = http_methods_to_capture

    # Handle one request: `_handle` with this middleware as `how`.
    __call__ = _handle
