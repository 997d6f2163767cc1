"""Flask: every Flask app runs its requests through the WSGI layer (``run_wsgi``).

Patched once per process, checked on every request: ``Flask.__call__`` opens the request's
isolation scope; the ``got_request_exception`` signal reports the view's failure (Flask turns
it into a 500 answer, so it never reaches the WSGI layer). The transaction (endpoint or URL
rule), a parsed multipart form and a Flask-Login user are read only when an event is captured.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import tripwire
from tripwire.integrations import DidNotEnable, Integration
from tripwire.integrations._request import (
    RequestState,
    TransactionName,
    capture_request_failure,
    is_undecoded_body,
)
from tripwire.integrations.wsgi import ENVIRON_KEY, run_wsgi

__all__ = ["TRANSACTION_STYLE_VALUES", "FlaskIntegration"]

TRANSACTION_STYLE_VALUES = ("endpoint", "url")


class FlaskIntegration(Integration):
    """Report Flask request failures with request data; ``transaction_style`` is
    ``"endpoint"`` (the view's endpoint name) or ``"url"`` (the URL rule)."""

    identifier: ClassVar[str] = "flask"

    def __init__(
        self, transaction_style: str = "endpoint", http_methods_to_capture: tuple[str, ...] = ()
    ) -> None:
        if transaction_style not in TRANSACTION_STYLE_VALUES:
            raise ValueError(
                f"Invalid value for transaction_style: {transaction_style} "
                f"(must be in {TRANSACTION_STYLE_VALUES})"
            )
        self.transaction_style = transaction_style
        self.http_methods_to_capture = http_methods_to_capture  # accepted: no spans

    @staticmethod
    def setup_once() -> None:
        """Patch ``Flask.__call__`` and listen to ``got_request_exception``."""
        try:
            from flask import Flask
            from flask.signals import got_request_exception
        except ImportError as exc:
            raise DidNotEnable("flask is not installed") from exc
        _patch_app(Flask)
        got_request_exception.connect(_on_request_exception, weak=False)


def _patch_app(flask_class: Any) -> None:
    original = flask_class.__call__
    if getattr(original, "__tripwire_wrapped__", False):
        return

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if tripwire.get_client().get_integration(FlaskIntegration) is None:
            return original(self, environ, start_response)
        return run_wsgi(
            lambda environ, start_response: original(self, environ, start_response),
            environ,
            start_response,
            mechanism_type="flask",
            describe=_describe,
        )

    __call__.__tripwire_wrapped__ = True  # type: ignore[attr-defined]
    flask_class.__call__ = __call__


def _on_request_exception(sender: object, exception: BaseException, **extra: object) -> None:
    if tripwire.get_client().get_integration(FlaskIntegration) is None:
        return
    from flask import has_request_context, request

    state = request.environ.get(ENVIRON_KEY) if has_request_context() else None
    if isinstance(state, RequestState):
        # Keep the request: Flask detaches it from the environ when its context ends.
        state.framework_request = request._get_current_object()  # type: ignore[attr-defined]
        state.report(exception)
    else:
        capture_request_failure(exception, "flask")


def _flask_request(state: RequestState) -> Any:
    if state.framework_request is not None:
        return state.framework_request
    environ = getattr(state, "environ", None)
    return environ.get("werkzeug.request") if isinstance(environ, dict) else None


def _describe(
    state: RequestState, request: dict[str, Any], meta: dict[str, Any], send_default_pii: bool
) -> tuple[TransactionName | None, dict[str, object] | None]:
    flask_request = _flask_request(state)
    if flask_request is None:
        return None, None
    integration = tripwire.get_client().get_integration(FlaskIntegration)
    style = integration.transaction_style if isinstance(integration, FlaskIntegration) else ""
    transaction: TransactionName | None = None
    rule = getattr(flask_request, "url_rule", None)
    if rule is not None:
        if style == "url":
            transaction = (str(rule.rule), "route")
        else:
            transaction = (str(rule.endpoint), "component")
    # Werkzeug parsed a multipart form already (cached on the request): send its fields;
    # uploaded files are left out. Never parse here: that would read the stream.
    form = flask_request.__dict__.get("form")
    if form and is_undecoded_body(request, meta):
        request["data"] = {key: _one_or_all(form.getlist(key)) for key in form}
        del meta["data"]
    return transaction, _login_user() if send_default_pii else None


def _one_or_all(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _login_user() -> dict[str, object] | None:
    flask_login = sys.modules.get("flask_login")
    if flask_login is None:
        return None
    from flask import has_request_context

    if not has_request_context():
        return None
    user = flask_login.current_user
    if not getattr(user, "is_authenticated", False):
        return None
    found: dict[str, object] = {"id": str(user.get_id())}
    for name in ("email", "username"):
        value = getattr(user, name, None)
        if isinstance(value, str):
            found[name] = value
    return found
