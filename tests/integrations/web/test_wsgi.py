"""SentryWsgiMiddleware behind a real wsgiref server."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

import tripwire
from tests.integrations.web.servers import serve_werkzeug, serve_wsgi
from tests.relay import assert_valid_event
from tripwire.active import capture_layers
from tripwire.events.pending import reprs_may_wait
from tripwire.integrations.wsgi import ENVIRON_KEY, SentryWsgiMiddleware
from tripwire.testing import capture_events

SECRET_HEADERS = {
    "Authorization": "Bearer hunter2-token",
    "Cookie": "sessionid=cookie-secret",
    "X-Api-Key": "api-key-secret",
    "X-Forwarded-For": "203.0.113.77",
}


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    query = parse_qs(environ["QUERY_STRING"])
    if "tag" in query:
        tripwire.set_tag("request", query["tag"][0])
        tripwire.set_user({"id": query["tag"][0]})
        tripwire.add_breadcrumb(message=f"crumb {query['tag'][0]}")
    if path == "/read-then-fail":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        raise ValueError("failed after reading")
    if path == "/read-pieces-then-fail":
        while environ["wsgi.input"].read(64):
            pass
        raise ValueError("failed after reading")
    if path == "/fail":
        raise ValueError("request failed")
    if path == "/exit0":
        raise SystemExit(0)
    if path == "/stream-fail":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _failing_stream()
    if path == "/message":
        tripwire.capture_message("something odd")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _failing_stream() -> Iterator[bytes]:
    yield b"first"
    raise RuntimeError("stream broke")


def _exception(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = event["exception"]["values"][-1]
    return value


def test_unhandled_error_is_reported_with_request_data_and_reraised() -> None:
    with capture_events() as events, serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        response = httpx.get(f"{url}/fail?page=2")

    assert response.status_code == 500  # re-raised: the server answered with its error page
    [event] = events
    assert_valid_event(event)
    assert _exception(event)["type"] == "ValueError"
    assert _exception(event)["mechanism"] == {"type": "wsgi", "handled": False}
    request = event["request"]
    assert f"{url}/fail" == request["url"]
    assert request["method"] == "GET"
    assert request["query_string"] == "page=2"
    assert event["transaction"] == "/fail"


def test_without_pii_no_secret_header_cookie_or_ip_is_sent() -> None:
    with capture_events() as events, serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        httpx.get(f"{url}/fail", headers=SECRET_HEADERS)

    [event] = events
    assert_valid_event(event)
    sent = json.dumps(event)
    for secret in ("hunter2-token", "cookie-secret", "api-key-secret", "203.0.113.77"):
        assert secret not in sent
    assert "127.0.0.1" not in json.dumps(event.get("user", {}))
    headers = event["request"]["headers"]
    assert "[Filtered]" == headers["Authorization"] == headers["X-Forwarded-For"]
    meta = event["_meta"]["request"]["headers"]["X-Api-Key"]
    assert meta == {"": {"rem": [["!config", "s"]]}}
    assert "cookies" not in event["request"]


def test_with_pii_cookies_and_client_ip_are_collected() -> None:
    with (
        capture_events(send_default_pii=True) as events,
        serve_wsgi(SentryWsgiMiddleware(_app)) as url,
    ):
        httpx.get(f"{url}/fail", headers={**SECRET_HEADERS, "Cookie": "theme=dark; sessionid=s"})

    [event] = events
    assert_valid_event(event)
    # Collected with PII on; a session cookie is still a secret to the scrubber.
    assert event["request"]["cookies"] == {"theme": "dark", "sessionid": "[Filtered]"}
    assert event["user"]["ip_address"] == "203.0.113.77"
    assert event["request"]["env"]["REMOTE_ADDR"] == "127.0.0.1"


def test_body_the_app_read_is_attached_to_its_failure() -> None:
    body = {"item": "book", "quantity": 2}
    with capture_events() as events, serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        httpx.post(f"{url}/read-then-fail", json=body)

    [event] = events
    assert_valid_event(event)
    assert body == event["request"]["data"]


def test_body_the_app_never_read_is_attached_to_its_failure() -> None:
    with capture_events() as events, serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        httpx.post(f"{url}/fail", data={"name": "ada", "tags": ["a", "b"]})

    [event] = events
    assert event["request"]["data"] == {"name": "ada", "tags": ["a", "b"]}


@pytest.mark.parametrize(("size", "body_bytes"), [("small", 1001), ("never", 10)])
def test_body_beyond_max_request_body_size_is_left_out_with_a_note(
    size: str, body_bytes: int
) -> None:
    with (
        capture_events(max_request_body_size=size) as events,
        serve_wsgi(SentryWsgiMiddleware(_app)) as url,
    ):
        httpx.post(f"{url}/read-then-fail", content=b"x" * body_bytes)

    [event] = events
    assert_valid_event(event)
    assert event["request"]["data"] == ""
    assert event["_meta"]["request"]["data"] == {"": {"rem": [["!config", "x"]]}}


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 100):  # a generator: httpx sends it chunked
        yield body[start : start + 100]


@pytest.mark.parametrize("path", ["/read-pieces-then-fail", "/fail"])
def test_chunked_body_is_attached_to_its_failure_whether_read_or_not(path: str) -> None:
    """No Content-Length: the server de-chunks and marks the end (wsgi.input_terminated)."""
    body = json.dumps({"name": "ada", "note": "n" * 250}).encode()
    with capture_events() as events, serve_werkzeug(SentryWsgiMiddleware(_app)) as url:
        httpx.post(
            f"{url}{path}", content=_chunks(body), headers={"Content-Type": "application/json"}
        )

    [event] = events
    assert_valid_event(event)
    assert event["request"]["headers"]["Transfer-Encoding"] == "chunked"
    assert json.loads(body) == event["request"]["data"]


@pytest.mark.parametrize("path", ["/read-pieces-then-fail", "/fail"])
def test_chunked_body_beyond_max_request_body_size_is_left_out_with_a_note(path: str) -> None:
    with (
        capture_events(max_request_body_size="small") as events,
        serve_werkzeug(SentryWsgiMiddleware(_app)) as url,
    ):
        httpx.post(f"{url}{path}", content=_chunks(b"x" * 1500))

    [event] = events
    assert_valid_event(event)
    assert event["request"]["data"] == ""
    assert event["_meta"]["request"]["data"] == {"": {"rem": [["!config", "x"]]}}


def test_failure_while_streaming_the_response_is_reported() -> None:
    with capture_events() as events, serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        try:
            httpx.get(f"{url}/stream-fail")
        except httpx.HTTPError:
            pass  # the server may cut the connection mid-response

    [event] = events
    assert_valid_event(event)
    assert _exception(event)["type"] == "RuntimeError"
    assert f"{url}/stream-fail" == event["request"]["url"]


def test_events_captured_during_a_request_carry_its_data() -> None:
    with capture_events() as events, serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        assert httpx.get(f"{url}/message?tag=m").status_code == 200

    [event] = events
    assert_valid_event(event)
    assert event["message"] == "something odd"
    assert f"{url}/message" == event["request"]["url"]
    assert event["tags"]["request"] == "m"


def test_concurrent_requests_keep_their_own_tags_users_and_breadcrumbs() -> None:
    names = [f"r{i}" for i in range(24)]
    with capture_events() as events, serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        with httpx.Client() as client, ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda name: client.get(f"{url}/fail?tag={name}"), names))
        tripwire.capture_message("after the requests")

    assert len(names) + 1 == len(events)
    for event in events[:-1]:
        name = event["tags"]["request"]
        assert event["request"]["query_string"] == f"tag={name}"
        assert {"id": name} == event["user"]
        assert [f"crumb {name}"] == [c["message"] for c in event["breadcrumbs"]["values"]]
    assert "request" not in events[-1].get("tags", {})
    assert "user" not in events[-1]


def test_clean_exit_is_not_reported() -> None:
    with capture_events() as events, serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        httpx.get(f"{url}/exit0")
        httpx.get(f"{url}/ok")

    assert events == []


def test_without_init_the_app_runs_unchanged() -> None:
    with serve_wsgi(SentryWsgiMiddleware(_app)) as url:
        assert httpx.get(f"{url}/ok").content == b"ok"
        assert httpx.get(f"{url}/fail").status_code == 500


def test_breadcrumbs_of_the_server_context_stay_out_of_requests() -> None:
    with capture_events() as events:
        tripwire.add_breadcrumb(message="server starting")
        with serve_wsgi(SentryWsgiMiddleware(_app)) as url:
            httpx.get(f"{url}/fail?tag=a")
        tripwire.capture_message("after the request")

    request_event, after = events
    assert [c["message"] for c in request_event["breadcrumbs"]["values"]] == ["crumb a"]
    assert [c["message"] for c in after["breadcrumbs"]["values"]] == ["server starting"]


@pytest.mark.parametrize("path", ["/ok", "/stream-fail"])
def test_the_environ_lets_go_of_the_request_state_when_the_response_ends(path: str) -> None:
    """The state refers to the environ; the reverse link would keep both for the collector."""
    environs: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        assert ENVIRON_KEY in environ
        environs.append(environ)
        return _app(environ, start_response)

    with capture_events(), serve_wsgi(SentryWsgiMiddleware(app)) as url:
        try:
            httpx.get(f"{url}{path}")
        except httpx.HTTPError:
            pass  # the server may cut the connection mid-response

    [environ] = environs
    assert ENVIRON_KEY not in environ


def test_reprs_wait_for_the_worker_inside_a_request_and_its_secrets_are_filtered() -> None:
    """The request's event processor edits frame variables only through pending reprs, so a
    capture in a request leaves them for the worker like any other; the secrets still go."""
    waits: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        client = tripwire.get_client()
        waits.append(reprs_may_wait(client.config, capture_layers(None, None, {})))
        seen = "visited " + environ["QUERY_STRING"] + " " * 60  # long enough to wait
        raise ValueError(seen[:8])

    with (
        capture_events(send_default_pii=True) as events,
        serve_wsgi(SentryWsgiMiddleware(app)) as url,
    ):
        httpx.get(f"{url}/orders?page=1&token=s3cr3t-query-value")

    assert waits == [True]
    [event] = events
    assert_valid_event(event)
    assert "s3cr3t-query-value" not in json.dumps(event)
    [frame_vars] = [
        f["vars"] for f in _exception(event)["stacktrace"]["frames"] if "seen" in f.get("vars", {})
    ]
    assert frame_vars["seen"].startswith("'visited page=1&token=[Filtered] ")
