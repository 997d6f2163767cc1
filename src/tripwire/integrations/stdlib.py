"""Breadcrumbs for the standard library: ``http.client`` requests and ``subprocess`` runs.

Runs on the caller's thread. An HTTP crumb is added once the response status is known (or
the request failed), so a crash right after a failing call shows it; requests to the DSN's
host (tripwire's own traffic, via urllib3, which builds on ``http.client``) are skipped.
tripwire records no spans, so no ``sentry-trace``/``baggage`` headers are added.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable, Sequence
from http import client as http_client
from typing import Any, ClassVar
from urllib.parse import urlsplit

from tripwire import api
from tripwire.active import get_client
from tripwire.integrations import Integration

__all__ = ["StdlibIntegration", "describe_command", "http_breadcrumb"]

_PENDING = "_tripwire_request"  # connection attribute: (method, url) of the open request
_MAX_COMMAND = 1024
_SPOTLIGHT_URL = "http://localhost:8969/stream"  # spotlight=True (scopes-and-options.md §4)


class StdlibIntegration(Integration):
    """Adds ``http`` breadcrumbs for ``http.client`` and ``subprocess`` breadcrumbs."""

    identifier: ClassVar[str] = "stdlib"

    @staticmethod
    def setup_once() -> None:
        connection = http_client.HTTPConnection
        connection.putrequest = _wrap_putrequest(connection.putrequest)  # type: ignore[method-assign]
        connection.getresponse = _wrap_getresponse(connection.getresponse)  # type: ignore[method-assign]
        subprocess.Popen.__init__ = _wrap_popen_init(subprocess.Popen.__init__)  # type: ignore[method-assign]


def _active() -> bool:
    return get_client().get_integration(StdlibIntegration) is not None


def _request_url(conn: http_client.HTTPConnection, url: str) -> str:
    if url.startswith(("http://", "https://")):  # through a proxy: the URL is absolute
        return url
    scheme = "https" if conn.default_port == 443 else "http"
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    port = "" if conn.port == conn.default_port else f":{conn.port}"
    return f"{scheme}://{host}{port}{url}"


def _own_endpoints() -> list[tuple[str, int]]:
    config = get_client().config
    found = [] if config.dsn is None else [(config.dsn.host, config.dsn.port)]
    spotlight = _SPOTLIGHT_URL if config.spotlight is True else config.spotlight
    if isinstance(spotlight, str):
        parts = urlsplit(spotlight)
        if parts.hostname:
            found.append((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))
    return found


def _is_own_traffic(conn: http_client.HTTPConnection, url: str) -> bool:
    endpoints = _own_endpoints()
    if not endpoints:
        return False
    if url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        default = 443 if parts.scheme == "https" else 80
        target = (parts.hostname or "", parts.port or default)
    else:
        target = (conn.host, conn.port or conn.default_port)
    return target in endpoints


def http_breadcrumb(
    method: str, url: str, status: int | None, reason: str | None
) -> dict[str, Any]:
    """The ``http`` breadcrumb of one request; ``status`` None when no response came."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]  # never the credentials of user:pass@host
    data: dict[str, object] = {
        "http.method": method,
        "url": f"{parts.scheme}://{netloc}{parts.path}",
    }
    if parts.query:
        data["http.query"] = parts.query
    if parts.fragment:
        data["http.fragment"] = parts.fragment
    if status is not None:
        data["http.response.status_code"] = status
    if reason:
        data["reason"] = reason
    crumb: dict[str, Any] = {"type": "http", "category": "httplib", "data": data}
    if status is None or status >= 500:
        crumb["level"] = "error"
    elif status >= 400:
        crumb["level"] = "warning"
    return crumb


def _wrap_putrequest(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def putrequest(
        self: http_client.HTTPConnection, method: str, url: str, *args: Any, **kwargs: Any
    ) -> None:
        original(self, method, url, *args, **kwargs)
        with api._internal_errors_logged():
            if _active() and not _is_own_traffic(self, url):
                setattr(self, _PENDING, (str(method), _request_url(self, str(url))))

    return putrequest


def _wrap_getresponse(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def getresponse(self: http_client.HTTPConnection, *args: Any, **kwargs: Any) -> Any:
        pending = vars(self).pop(_PENDING, None)
        if pending is None:
            return original(self, *args, **kwargs)
        method, url = pending
        try:
            response = original(self, *args, **kwargs)
        except Exception as exc:
            with api._internal_errors_logged():
                api.add_breadcrumb(http_breadcrumb(method, url, None, type(exc).__name__))
            raise
        with api._internal_errors_logged():
            status = getattr(response, "status", None)
            reason = getattr(response, "reason", None)
            api.add_breadcrumb(
                http_breadcrumb(
                    method,
                    url,
                    status if isinstance(status, int) else None,
                    reason if isinstance(reason, str) else None,
                )
            )
        return response

    return getresponse


def describe_command(args: object) -> str:
    """The command line of a ``Popen(args)`` call, as one bounded string."""
    if isinstance(args, (str, bytes, os.PathLike)):
        parts: Sequence[object] = [args]
    elif isinstance(args, Sequence):
        parts = args
    else:
        parts = [args]
    words = []
    for part in parts:
        value = os.fsdecode(part) if isinstance(part, (bytes, os.PathLike)) else str(part)
        words.append(value)
    text = " ".join(words)
    return text if len(text) <= _MAX_COMMAND else text[: _MAX_COMMAND - 3] + "..."


def _wrap_popen_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: subprocess.Popen[Any], args: Any, *more: Any, **kwargs: Any) -> None:
        # Recorded before the start, so an error starting it comes after its crumb.
        with api._internal_errors_logged():
            if _active():
                crumb: dict[str, Any] = {
                    "type": "subprocess",
                    "category": "subprocess",
                    "message": describe_command(args),
                }
                cwd = kwargs.get("cwd")
                if cwd is not None:
                    crumb["data"] = {"subprocess.cwd": os.fsdecode(cwd)}
                api.add_breadcrumb(crumb)
        original(self, args, *more, **kwargs)

    return __init__
