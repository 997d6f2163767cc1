"""Starlette: every Starlette app runs its requests through the ASGI layer (``run_asgi``).

Patched once per process, checked on every request: ``Starlette.__call__`` (an isolation scope
per request, request data, failures escaping the app) and ``ExceptionMiddleware``'s handlers
(an exception that a handler turned into a 5xx answer is reported as handled). FastAPI apps
are Starlette apps; ``FastApiIntegration`` only changes the mechanism name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Container, Iterable
from typing import Any, ClassVar

import tripwire
from tripwire.client import Client, NonRecordingClient
from tripwire.integrations import DidNotEnable, Integration
from tripwire.integrations._request import (
    RequestState,
    TransactionName,
    prepare_server_context,
)
from tripwire.integrations.asgi import (
    SCOPE_KEY,
    TRANSACTION_STYLE_VALUES,
    AsgiScope,
    Receive,
    Send,
    run_asgi,
)

__all__ = ["StarletteIntegration"]

_DEFAULT_FAILED_REQUEST_STATUS_CODES = frozenset(range(500, 600))


def _status_codes(given: Iterable[int | range] | Container[int] | None) -> Container[int]:
    if given is None:
        return frozenset()
    if isinstance(given, (set, frozenset, range)):
        return given
    codes: set[int] = set()
    for item in given:  # type: ignore[union-attr]
        if isinstance(item, range):
            codes.update(item)
        else:
            codes.add(int(item))
    return frozenset(codes)


class StarletteIntegration(Integration):
    """Report Starlette request failures with request data; ``transaction_style`` is
    ``"url"`` (the route template) or ``"endpoint"`` (the endpoint's qualified name)."""

    identifier: ClassVar[str] = "starlette"

    def __init__(
        self,
        transaction_style: str = "url",
        failed_request_status_codes: Iterable[int | range] | Container[int] | None = (
            _DEFAULT_FAILED_REQUEST_STATUS_CODES
        ),
        middleware_spans: bool = False,
        http_methods_to_capture: tuple[str, ...] = (),
    ) -> None:
        if transaction_style not in TRANSACTION_STYLE_VALUES:
            raise ValueError(
                f"Invalid value for transaction_style: {transaction_style} "
                f"(must be in {TRANSACTION_STYLE_VALUES})"
            )
        self.transaction_style = transaction_style
        self.failed_request_status_codes = _status_codes(failed_request_status_codes)
        self.middleware_spans = middleware_spans  # accepted for compatibility: no spans
        self.http_methods_to_capture = http_methods_to_capture

    @staticmethod
    def setup_once() -> None:
        """Patch ``Starlette.__call__`` and the two error middlewares (once per process)."""
        try:
            from starlette.applications import Starlette
            from starlette.middleware.errors import ServerErrorMiddleware
            from starlette.middleware.exceptions import ExceptionMiddleware
        except ImportError as exc:
            raise DidNotEnable("starlette is not installed") from exc
        _patch_app(Starlette)
        _patch_exception_middleware(ExceptionMiddleware)
        _patch_server_error_middleware(ServerErrorMiddleware)
        prepare_server_context()


def _integration_for(
    client: Client | NonRecordingClient, app: object
) -> StarletteIntegration | None:
    fastapi = sys.modules.get("fastapi.applications")
    if fastapi is not None and isinstance(app, fastapi.FastAPI):
        found = client.get_integration("fastapi") or client.get_integration("starlette")
    else:
        found = client.get_integration("starlette") or client.get_integration("fastapi")
    return found if isinstance(found, StarletteIntegration) else None


def _patch_app(starlette_class: Any) -> None:
    original = starlette_class.__call__
    if getattr(original, "__tripwire_wrapped__", False):
        return

    async def __call__(self: Any, scope: AsgiScope, receive: Receive, send: Send) -> None:
        integration = _integration_for(tripwire.get_client(), self)
        if integration is None:
            return await original(self, scope, receive, send)  # type: ignore[no-any-return]

        async def app(scope: AsgiScope, receive: Receive, send: Send) -> None:
            await original(self, scope, receive, send)

        await run_asgi(
            app,
            scope,
            receive,
            send,
            mechanism_type=integration.identifier,
            transaction_style=integration.transaction_style,
            describe=_describe,
        )
        return None

    __call__.__tripwire_wrapped__ = True  # type: ignore[attr-defined]
    starlette_class.__call__ = __call__


def _describe(
    state: RequestState, request: dict[str, Any], meta: dict[str, Any], send_default_pii: bool
) -> tuple[TransactionName | None, dict[str, object] | None]:
    """The user that ``AuthenticationMiddleware`` put in the ASGI scope (with PII only)."""
    scope = getattr(state, "scope", None)
    user = scope.get("user") if send_default_pii and isinstance(scope, dict) else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None, None
    found: dict[str, object] = {}
    for name in ("id", "username", "email"):
        value = getattr(user, name, None)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            found[name] = str(value)
    if "username" not in found:
        display_name = getattr(user, "display_name", None)
        if isinstance(display_name, str) and display_name:
            found["username"] = display_name
    return None, found or None


def _report_if_failed(connection: Any, error: Exception, response: object) -> None:
    scope = getattr(connection, "scope", None)
    if not isinstance(scope, dict):
        return
    integration = _integration_for(tripwire.get_client(), scope.get("app"))
    status = getattr(response, "status_code", None)
    if integration is None or status not in integration.failed_request_status_codes:
        return
    state = scope.get(SCOPE_KEY)
    if isinstance(state, RequestState):
        state.report(error, handled=True)


def _reporting(handler: Callable[..., Any]) -> Callable[..., Any]:
    from starlette._utils import is_async_callable
    from starlette.concurrency import run_in_threadpool

    if getattr(handler, "__tripwire_wrapped__", False):
        return handler

    async def report_5xx(connection: Any, error: Exception) -> Any:
        if is_async_callable(handler):
            response = await handler(connection, error)
        else:
            response = await run_in_threadpool(handler, connection, error)
        _report_if_failed(connection, error, response)
        return response

    report_5xx.__tripwire_wrapped__ = True  # type: ignore[attr-defined]
    return report_5xx


def _patch_exception_middleware(middleware_class: Any) -> None:
    original_init = middleware_class.__init__
    if getattr(original_init, "__tripwire_wrapped__", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        # Built once per app, not per request: wrapping here costs requests nothing.
        handlers = getattr(self, "_exception_handlers", None)
        if isinstance(handlers, dict):
            for key, handler in list(handlers.items()):
                handlers[key] = _reporting(handler)
        status_handlers = getattr(self, "_status_handlers", None)
        if isinstance(status_handlers, dict):
            for key, handler in list(status_handlers.items()):
                status_handlers[key] = _reporting(handler)

    __init__.__tripwire_wrapped__ = True  # type: ignore[attr-defined]
    middleware_class.__init__ = __init__


def _report_before_answering(connection: Any, error: Exception) -> None:
    scope = getattr(connection, "scope", None)
    state = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    if isinstance(state, RequestState):
        state.report(error)


def _reporting_first(handler: Callable[..., Any]) -> Callable[..., Any]:
    from starlette._utils import is_async_callable
    from starlette.concurrency import run_in_threadpool

    async def report_then_handle(connection: Any, error: Exception) -> Any:
        _report_before_answering(connection, error)
        if is_async_callable(handler):
            return await handler(connection, error)
        return await run_in_threadpool(handler, connection, error)

    return report_then_handle


def _patch_server_error_middleware(middleware_class: Any) -> None:
    """Report a failure before ``ServerErrorMiddleware`` sends its 500, not after.

    It answers first and re-raises afterwards: reporting only when the exception reaches
    ``run_asgi`` would hold the connection open meanwhile, and a client may send its next
    request on it just before the server closes it.
    """
    original_init = middleware_class.__init__
    if getattr(original_init, "__tripwire_wrapped__", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if getattr(self, "handler", None) is not None:
            self.handler = _reporting_first(self.handler)

    for name in ("error_response", "debug_response"):
        original = getattr(middleware_class, name)

        def respond(self: Any, request: Any, error: Exception, _original: Any = original) -> Any:
            _report_before_answering(request, error)
            return _original(self, request, error)

        setattr(middleware_class, name, respond)
    __init__.__tripwire_wrapped__ = True  # type: ignore[attr-defined]
    middleware_class.__init__ = __init__
