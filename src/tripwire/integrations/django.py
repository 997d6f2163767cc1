"""Django: WSGI and ASGI handlers run their requests through ``run_wsgi`` / ``run_asgi``.

Patched once per process, checked on every request: ``WSGIHandler.__call__`` and
``ASGIHandler.__call__`` open the request's isolation scope; the ``got_request_exception``
signal reports a view's failure (Django answers it with a 500, so it never escapes the
handler). The transaction (URL route or view function), a body Django read already and a user
the request loaded already are taken only when an event is captured; nothing here queries
the database.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, ClassVar

import tripwire
from tripwire.integrations import DidNotEnable, Integration
from tripwire.integrations._request import (
    RequestState,
    TransactionName,
    body_limit,
    capture_request_failure,
    decode_body,
    is_undecoded_body,
    prepare_server_context,
)
from tripwire.integrations.asgi import SCOPE_KEY, run_asgi
from tripwire.integrations.wsgi import ENVIRON_KEY, WsgiRequest, run_wsgi

__all__ = ["TRANSACTION_STYLE_VALUES", "DjangoIntegration"]

TRANSACTION_STYLE_VALUES = ("function_name", "url")


class DjangoIntegration(Integration):
    """Report Django request failures with request data; ``transaction_style`` is ``"url"``
    (the URL pattern) or ``"function_name"`` (the view's dotted path)."""

    identifier: ClassVar[str] = "django"

    def __init__(
        self,
        transaction_style: str = "url",
        middleware_spans: bool = False,
        signals_spans: bool = True,
        cache_spans: bool = False,
        db_transaction_spans: bool = False,
        signals_denylist: list[object] | None = None,
        http_methods_to_capture: tuple[str, ...] = (),
        *,
        failed_request_status_codes: Iterable[int] = frozenset(range(500, 600)),
    ) -> None:
        if transaction_style not in TRANSACTION_STYLE_VALUES:
            raise ValueError(
                f"Invalid value for transaction_style: {transaction_style} "
                f"(must be in {TRANSACTION_STYLE_VALUES})"
            )
        self.transaction_style = transaction_style
        # Accepted for compatibility with sentry_sdk; tripwire records no spans.
        self.middleware_spans = middleware_spans
        self.signals_spans = signals_spans
        self.cache_spans = cache_spans
        self.db_transaction_spans = db_transaction_spans
        self.signals_denylist = signals_denylist or []
        self.http_methods_to_capture = http_methods_to_capture
        self.failed_request_status_codes = frozenset(failed_request_status_codes)

    @staticmethod
    def setup_once() -> None:
        """Patch the WSGI and ASGI handlers and listen to ``got_request_exception``."""
        try:
            import django
            from django.core.handlers.asgi import ASGIHandler
            from django.core.handlers.wsgi import WSGIHandler
            from django.core.signals import got_request_exception
        except ImportError as exc:
            raise DidNotEnable("django is not installed") from exc
        if django.VERSION < (3, 2):
            raise DidNotEnable("django 3.2 or newer is required")
        _patch_wsgi(WSGIHandler)
        _patch_asgi(ASGIHandler)
        got_request_exception.connect(_on_request_exception, weak=False)
        prepare_server_context()


def _is_enabled() -> bool:
    return tripwire.get_client().get_integration(DjangoIntegration) is not None


def _patch_wsgi(handler_class: Any) -> None:
    original = handler_class.__call__
    if getattr(original, "__tripwire_wrapped__", False):
        return

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if not _is_enabled():
            return original(self, environ, start_response)
        return run_wsgi(
            lambda environ, start_response: original(self, environ, start_response),
            environ,
            start_response,
            mechanism_type="django",
            describe=_describe,
        )

    __call__.__tripwire_wrapped__ = True  # type: ignore[attr-defined]
    handler_class.__call__ = __call__


def _patch_asgi(handler_class: Any) -> None:
    original = handler_class.__call__
    if getattr(original, "__tripwire_wrapped__", False):
        return

    async def __call__(self: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not _is_enabled():
            return await original(self, scope, receive, send)  # type: ignore[no-any-return]

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await original(self, scope, receive, send)

        await run_asgi(app, scope, receive, send, mechanism_type="django", describe=_describe)
        return None

    __call__.__tripwire_wrapped__ = True  # type: ignore[attr-defined]
    handler_class.__call__ = __call__


def _on_request_exception(sender: object, request: Any = None, **extra: object) -> None:
    error = sys.exc_info()[1]
    if error is None or not _is_enabled():
        return
    scope = getattr(request, "scope", None)  # ASGIRequest
    if isinstance(scope, dict):
        state = scope.get(SCOPE_KEY)
    else:
        meta = getattr(request, "META", None)
        state = meta.get(ENVIRON_KEY) if isinstance(meta, dict) else None
        if state is None and isinstance(meta, dict):
            # Handlers that bypass WSGIHandler (Django's test client): describe the request
            # from its META, an environ, in a scope of its own.
            state = WsgiRequest(meta, "django", False, _describe)
            state.framework_request = request
            with tripwire.new_scope() as own_scope:
                own_scope.add_event_processor(state.process)
                state.report(error)
            return
    if isinstance(state, RequestState):
        state.framework_request = request
        state.report(error)
    else:
        capture_request_failure(error, "django")


def _describe(
    state: RequestState, request: dict[str, Any], meta: dict[str, Any], send_default_pii: bool
) -> tuple[TransactionName | None, dict[str, object] | None]:
    django_request = state.framework_request
    if django_request is None:
        return None, None
    _add_body(django_request, request, meta)
    return _transaction(django_request), _user(django_request) if send_default_pii else None


def _transaction(django_request: Any) -> TransactionName | None:
    match = getattr(django_request, "resolver_match", None)
    if match is None:
        return None
    integration = tripwire.get_client().get_integration(DjangoIntegration)
    style = integration.transaction_style if isinstance(integration, DjangoIntegration) else ""
    if style == "function_name":
        return str(match._func_path), "component"
    route = getattr(match, "route", None)
    if isinstance(route, str) and route:
        return "/" + route.lstrip("^").rstrip("$").lstrip("/"), "route"
    return None


def _add_body(django_request: Any, request: dict[str, Any], meta: dict[str, Any]) -> None:
    """Use what Django parsed or read already; never read the stream from here."""
    if "data" in request and not is_undecoded_body(request, meta):
        return
    content_type = str(getattr(django_request, "content_type", "") or "")
    post = django_request.__dict__.get("_post")
    if post and content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        request["data"] = {key: _one_or_all(post.getlist(key)) for key in post}
        meta.pop("data", None)
        return
    body = django_request.__dict__.get("_body")
    if not body or "data" in request:
        return
    limit = body_limit(tripwire.get_client().config.max_request_body_size)
    if limit is not None and len(body) > limit:
        return
    data, data_meta = decode_body(str(django_request.META.get("CONTENT_TYPE", "")), body)
    request["data"] = data
    if data_meta is not None:
        meta["data"] = {"": data_meta}


def _one_or_all(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _user(django_request: Any) -> dict[str, object] | None:
    lazy = django_request.__dict__.get("user")
    if lazy is None:
        return None
    from django.utils.functional import empty

    # AuthenticationMiddleware sets a lazy object; loading it would query the database (and
    # fail in async code), so only a user the request already loaded is used.
    user = getattr(lazy, "_wrapped", lazy)
    if user is empty or not getattr(user, "is_authenticated", False):
        return None
    found: dict[str, object] = {"id": str(user.pk)}
    username = user.get_username() if hasattr(user, "get_username") else None
    if isinstance(username, str):
        found["username"] = username
    email = getattr(user, "email", None)
    if isinstance(email, str) and email:
        found["email"] = email
    return found
