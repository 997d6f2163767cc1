"""ASGI: ``SentryAsgiMiddleware`` gives each request an isolation scope and reports failures.

Runs in the request's task. Per request it makes one object, the request's state and its
deferred scopes (forked and given an event processor holding the ASGI scope only if the request
uses them), and passes ``receive`` through a recorder that keeps body chunks by reference
within ``max_request_body_size``; request data is read only when an event is captured.
Starlette, FastAPI and Django run their requests through ``run_asgi``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import tripwire
from tripwire.active import enter, leave, restore
from tripwire.integrations._request import (
    BodyRecorder,
    Describe,
    RequestFacts,
    RequestState,
    TransactionName,
    body_limit,
    collect_request,
    header_name,
    prepare_server_context,
)
from tripwire.types import Event, Hint

__all__ = [
    "SCOPE_KEY",
    "TRANSACTION_STYLE_VALUES",
    "AsgiRequest",
    "SentryAsgiMiddleware",
    "facts_from_asgi_scope",
    "run_asgi",
]

AsgiScope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[AsgiScope, Receive, Send], Awaitable[None]]

TRANSACTION_STYLE_VALUES = ("endpoint", "url")

# The ASGI scope key holding the request's AsgiRequest: nested middlewares find it there.
SCOPE_KEY = "tripwire.request"

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_REQUEST_TYPES = ("http", "websocket")


def _joined_headers(raw: object) -> dict[str, str]:
    headers: dict[str, str] = {}
    if not isinstance(raw, (list, tuple)):
        return headers
    for item in raw:
        name = header_name(bytes(item[0]).decode("latin-1"))
        value = bytes(item[1]).decode("latin-1")
        if name in headers:
            separator = "; " if name == "Cookie" else ", "
            headers[name] = headers[name] + separator + value
        else:
            headers[name] = value
    return headers


def facts_from_asgi_scope(
    scope: AsgiScope, path: str | None = None, root_path: str | None = None
) -> RequestFacts:
    """Read url, method, query, headers and peer address from an ASGI connection scope.

    ``path`` and ``root_path`` default to the scope's; routers rewrite ``root_path`` as they
    descend into mounted apps, so the middleware passes the values it saw on entry.
    """
    headers = _joined_headers(scope.get("headers"))
    kind = scope.get("type")
    scheme = str(scope.get("scheme") or ("ws" if kind == "websocket" else "http"))
    host = headers.get("Host")
    if not host:
        server = scope.get("server")
        if isinstance(server, (list, tuple)) and len(server) == 2 and server[1] is not None:
            port = server[1]
            host = str(server[0]) if _DEFAULT_PORTS.get(scheme) == port else f"{server[0]}:{port}"
        else:
            host = str(server[0]) if isinstance(server, (list, tuple)) and server else "localhost"
    path = str(scope.get("path") or "/") if path is None else path
    root_path = str(scope.get("root_path") or "") if root_path is None else root_path
    if root_path and not path.startswith(root_path):  # servers differ on whether path has it
        path = root_path + path
    query = scope.get("query_string") or b""
    client = scope.get("client")
    remote_addr = str(client[0]) if isinstance(client, (list, tuple)) and client else None
    return RequestFacts(
        url=f"{scheme}://{host}{path}",
        method=scope.get("method") if kind == "http" else None,
        query_string=bytes(query).decode("latin-1"),
        headers=headers,
        remote_addr=remote_addr,
        env={},
    )


def _endpoint_name(endpoint: object) -> str | None:
    target = getattr(endpoint, "__func__", endpoint)
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if not isinstance(name, str):
        name = getattr(type(target), "__qualname__", None)
    if not isinstance(name, str):
        return None
    module = getattr(target, "__module__", None)
    return f"{module}.{name}" if isinstance(module, str) else name


class AsgiRequest(RequestState):
    """One request: its ASGI scope and recorded body; ``process`` adds it to events.

    ``receive`` is the application's ``receive``: it keeps ``http.request`` body chunks (by
    reference) within ``max_request_body_size``, in a recorder made at the first non-empty
    chunk, so that a request without a body costs no recorder and no limit lookup.
    """

    __slots__ = (
        "_receive",
        "path",
        "recorder",
        "root_path",
        "scope",
        "transaction_style",
    )

    def __init__(self, how: _Handling, scope: AsgiScope, receive: Receive) -> None:
        RequestState.__init__(self, how.mechanism_type, how.describe)
        self.transaction_style = how.transaction_style
        self.scope = scope
        self.path: str | None = scope.get("path")
        self.root_path: str = scope.get("root_path") or ""
        self._receive = receive
        self.recorder: BodyRecorder | None = None

    async def receive(self) -> Message:
        """The wrapped ``receive``, recording body chunks."""
        message = await self._receive()
        if message.get("type") == "http.request":
            body = message.get("body")
            if body:
                if self.recorder is None:
                    config = tripwire.get_client().config
                    self.recorder = BodyRecorder(body_limit(config.max_request_body_size))
                self.recorder.add(bytes(body))
        return message

    def _body(self, facts: RequestFacts, limit: int | None) -> tuple[bytes | None, bool]:
        try:
            length = int(facts.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if limit == 0:
            return None, length > 0  # max_request_body_size="never"
        recorder = self.recorder
        if recorder is None:
            return None, False  # nothing read: no body, or one the application left unread
        if recorder.is_too_large:
            return None, True
        if length and recorder.size < length:
            return None, False  # not read (completely) by the application: unknown body
        return recorder.value() or None, False

    def transaction(self) -> TransactionName:
        """The route or endpoint by ``transaction_style``, else the path (source ``url``)."""
        scope = self.scope
        if self.transaction_style == "endpoint":
            name = _endpoint_name(scope.get("endpoint")) if scope.get("endpoint") else None
            if name:
                return name, "component"
        route_path = getattr(scope.get("route"), "path", None)
        if isinstance(route_path, str):
            # Mounted apps: the router appended the mount's prefix to root_path.
            current_root = str(scope.get("root_path") or "")
            prefix = current_root[len(self.root_path) :]
            return prefix + route_path, "route"
        path = self.path or "/"
        return path, "url"

    def process(self, event: Event, hint: Hint) -> Event:
        """Event processor: add request data, client IP, transaction and user to ``event``."""
        config = tripwire.get_client().config
        pii = config.send_default_pii
        facts = facts_from_asgi_scope(self.scope, self.path, self.root_path)
        body, is_over_limit = self._body(facts, body_limit(config.max_request_body_size))
        request, meta = collect_request(
            facts, send_default_pii=pii, body=body, is_body_over_limit=is_over_limit
        )
        return self.finish_event(
            event, facts, request, meta, send_default_pii=pii, transaction=self.transaction()
        )


class _Handling:
    """How requests of one ASGI 3 app are handled: what ``_handle`` reads."""

    __slots__ = ("_app3", "describe", "mechanism_type", "transaction_style")

    def __init__(
        self,
        app: AsgiApp,
        mechanism_type: str,
        transaction_style: str,
        describe: Describe | None,
    ) -> None:
        self._app3 = app
        self.mechanism_type = mechanism_type
        self.transaction_style = transaction_style
        self.describe = describe


async def _handle(how: _Handling, scope: AsgiScope, receive: Receive, send: Send) -> None:
    """Run one connection in its own isolation scope; report and re-raise failures.

    ``SentryAsgiMiddleware.__call__`` is this function itself, so a request through the
    middleware pays for one coroutine, not two.
    """
    app = how._app3
    if scope.get("type") not in _REQUEST_TYPES:  # lifespan: not a request
        return await app(scope, receive, send)
    outer = scope.get(SCOPE_KEY)
    if isinstance(outer, AsgiRequest):  # an outer middleware already handles this request
        if how.mechanism_type != "asgi":
            outer.adopt(how.mechanism_type, how.describe)
            outer.transaction_style = how.transaction_style
        return await app(scope, receive, send)
    # No check of the client here: the request's scopes are deferred (cheaper than the check)
    # and a report asks the client first.
    state = AsgiRequest(how, scope, receive)
    scope[SCOPE_KEY] = state
    token = enter(state)
    try:
        await app(scope, state.receive, send)
    except BaseException as exc:
        state.report(exc)
        raise
    finally:
        try:
            restore(token)  # the ContextVar's own method: no Python call per request
        except ValueError:  # resumed in another context by an unusual driver
            leave(token)  # logs it
        scope.pop(SCOPE_KEY, None)  # the state holds the scope: no cycle outlives the request
    return None


async def run_asgi(
    app: AsgiApp,
    scope: AsgiScope,
    receive: Receive,
    send: Send,
    *,
    mechanism_type: str = "asgi",
    transaction_style: str = "endpoint",
    describe: Describe | None = None,
) -> None:
    """Run one connection of ``app`` in its own isolation scope; report and re-raise failures."""
    await _handle(_Handling(app, mechanism_type, transaction_style, describe), scope, receive, send)


def _is_asgi2(app: object) -> bool:
    # ASGI 2 apps are classes (or factories) taking the scope and returning a coroutine
    # function of (receive, send); ASGI 3 apps are coroutine functions of all three.
    if inspect.isclass(app):
        return True
    if inspect.iscoroutinefunction(app):
        return False
    call = getattr(app, "__call__", None)  # noqa: B004 - the instance's own __call__
    return call is not None and not inspect.iscoroutinefunction(call) and _takes_one(call)


def _takes_one(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return len(parameters) == 1


class SentryAsgiMiddleware(_Handling):
    """Wrap an ASGI app: an isolation scope per request, request data on events, failures
    reported with ``mechanism.handled = false`` and re-raised."""

    __slots__ = (
        "app",
        "asgi_version",
        "http_methods_to_capture",
        "root_path_in_path",
        "span_origin",
    )

    def __init__(
        self,
        app: Any,
        unsafe_context_data: bool = False,
        transaction_style: str = "endpoint",
        mechanism_type: str = "asgi",
        span_origin: str = "manual",
        http_methods_to_capture: tuple[str, ...] = (),
        asgi_version: int | None = None,
        root_path_in_path: object = None,
    ) -> None:
        if transaction_style not in TRANSACTION_STYLE_VALUES:
            raise ValueError(
                f"Invalid value for transaction_style: {transaction_style} "
                f"(must be in {TRANSACTION_STYLE_VALUES})"
            )
        self.app = app
        self.span_origin = span_origin  # accepted for compatibility: tripwire has no spans
        self.http_methods_to_capture = http_methods_to_capture
        self.root_path_in_path = root_path_in_path
        self.asgi_version = (
            asgi_version if asgi_version is not None else (2 if _is_asgi2(app) else 3)
        )
        app3: AsgiApp = app if self.asgi_version == 3 else self._run_asgi2
        super().__init__(app3, mechanism_type, transaction_style, None)
        prepare_server_context()

    # Handle one connection (ASGI 3 signature): `_handle` with this middleware as `how`.
    __call__ = _handle

    async def _run_asgi2(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        await self.app(scope)(receive, send)
