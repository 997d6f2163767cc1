"""SentryAsgiMiddleware behind a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

import tripwire
from tests.integrations.web.servers import serve_asgi
from tripwire.integrations.asgi import SCOPE_KEY, SentryAsgiMiddleware
from tripwire.testing import capture_events

SECRET_HEADERS = {
    "Authorization": "Bearer hunter2-token",
    "Cookie": "sessionid=cookie-secret",
    "X-Api-Key": "api-key-secret",
    "X-Real-Ip": "198.51.100.23",
}


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    query = parse_qs(scope["query_string"].decode())
    if "tag" in query:
        tripwire.set_tag("request", query["tag"][0])
        tripwire.set_user({"id": query["tag"][0]})
        await asyncio.sleep(0.01)  # let the other requests' tasks run in between
    if scope["path"] == "/read-then-fail":
        await _read_body(receive)
        raise ValueError("failed after reading")
    if scope["path"] == "/fail":
        raise ValueError("request failed")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _exception(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = event["exception"]["values"][-1]
    return value


def test_unhandled_error_is_reported_with_request_data_and_reraised() -> None:
    with capture_events() as events, serve_asgi(SentryAsgiMiddleware(_app)) as url:
        response = httpx.get(f"{url}/fail?page=2")

    assert response.status_code == 500
    [event] = events
    assert _exception(event)["mechanism"] == {"type": "asgi", "handled": False}
    request = event["request"]
    assert request["url"] == f"{url}/fail"
    assert request["method"] == "GET"
    assert request["query_string"] == "page=2"
    assert event["transaction"] == "/fail"


def test_without_pii_no_secret_header_cookie_or_ip_is_sent() -> None:
    with capture_events() as events, serve_asgi(SentryAsgiMiddleware(_app)) as url:
        httpx.get(f"{url}/fail", headers=SECRET_HEADERS)

    [event] = events
    sent = json.dumps(event)
    for secret in ("hunter2-token", "cookie-secret", "api-key-secret", "198.51.100.23"):
        assert secret not in sent
    assert "ip_address" not in event.get("user", {})
    assert event["request"]["headers"]["Cookie"] == "[Filtered]"
    assert event["_meta"]["request"]["headers"]["X-Real-Ip"] == {"": {"rem": [["!config", "s"]]}}


def test_with_pii_cookies_and_client_ip_are_collected() -> None:
    with (
        capture_events(send_default_pii=True) as events,
        serve_asgi(SentryAsgiMiddleware(_app)) as url,
    ):
        httpx.get(f"{url}/fail", headers={**SECRET_HEADERS, "Cookie": "theme=dark; sessionid=s"})

    [event] = events
    # Collected with PII on; a session cookie is still a secret to the scrubber.
    assert event["request"]["cookies"] == {"theme": "dark", "sessionid": "[Filtered]"}
    assert event["user"]["ip_address"] == "198.51.100.23"


def test_body_the_app_read_is_attached_within_the_limit() -> None:
    with capture_events() as events, serve_asgi(SentryAsgiMiddleware(_app)) as url:
        httpx.post(f"{url}/read-then-fail", json={"order": 7})
        httpx.post(f"{url}/read-then-fail", json={"pad": "x" * 20_000})

    small, large = events
    assert small["request"]["data"] == {"order": 7}
    assert large["request"]["data"] == ""
    assert large["_meta"]["request"]["data"] == {"": {"rem": [["!config", "x"]]}}


def test_concurrent_requests_in_tasks_keep_their_own_tags_and_users() -> None:
    names = [f"r{i}" for i in range(30)]

    async def send_all(url: str) -> None:
        async with httpx.AsyncClient() as client:
            await asyncio.gather(*(client.get(f"{url}/fail?tag={name}") for name in names))

    with capture_events() as events, serve_asgi(SentryAsgiMiddleware(_app)) as url:
        asyncio.run(send_all(url))
        tripwire.capture_message("after the requests")

    assert len(events) == len(names) + 1
    for event in events[:-1]:
        name = event["tags"]["request"]
        assert event["request"]["query_string"] == f"tag={name}"
        assert event["user"] == {"id": name}
    assert "user" not in events[-1]


def test_asgi2_apps_are_served_too() -> None:
    class LegacyApp:
        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            raise KeyError("legacy")

    middleware = SentryAsgiMiddleware(LegacyApp)
    with capture_events() as events, serve_asgi(middleware) as url:
        httpx.get(f"{url}/old")

    assert middleware.asgi_version == 2
    [event] = events
    assert _exception(event)["type"] == "KeyError"


def test_lifespan_and_inactive_sdk_pass_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: Any) -> None:
        pass

    asyncio.run(SentryAsgiMiddleware(app)({"type": "lifespan"}, nothing, ignore))
    asyncio.run(SentryAsgiMiddleware(app)({"type": "http", "path": "/"}, nothing, ignore))

    assert seen == ["lifespan", "http"]


def test_websocket_failure_is_reported_with_its_url_and_no_method() -> None:
    """Driven by hand: uvicorn here has no websocket library."""

    async def ws_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        raise ConnectionError("socket app broke")

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        pass

    scope = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/live",
        "query_string": b"room=1",
        "headers": [(b"host", b"example.test")],
        "client": ("127.0.0.1", 9),
    }
    with capture_events() as events, pytest.raises(ConnectionError):
        asyncio.run(SentryAsgiMiddleware(ws_app)(scope, receive, send))

    [event] = events
    assert event["request"]["url"] == "ws://example.test/live"
    assert event["request"]["query_string"] == "room=1"
    assert "method" not in event["request"]


def test_the_scope_lets_go_of_the_request_state_when_the_request_ends() -> None:
    """The state refers to the ASGI scope; the reverse link would keep both for the collector."""
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert SCOPE_KEY in scope
        scopes.append(scope)
        await _app(scope, receive, send)

    with capture_events(), serve_asgi(SentryAsgiMiddleware(app)) as url:
        assert httpx.get(f"{url}/ok").status_code == 200

    [scope] = scopes
    assert SCOPE_KEY not in scope
