"""Request extraction and the send_default_pii collection rules, on plain environs and scopes."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.relay import assert_valid_event
from tripwire.integrations._request import (
    BodyRecorder,
    add_request_to_event,
    body_limit,
    collect_request,
    decode_body,
    header_name,
)
from tripwire.integrations._request_secrets import parse_cookies
from tripwire.integrations.asgi import facts_from_asgi_scope
from tripwire.integrations.wsgi import facts_from_environ

FILTERED_META = {"": {"rem": [["!config", "s"]]}}


def _environ(**extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/orders/7",
        "QUERY_STRING": "page=2&token=zzz",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "10.0.0.9",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "HTTP_HOST": "shop.example:8000",
        "HTTP_AUTHORIZATION": "Bearer s3cret",
        "HTTP_COOKIE": "sessionid=abc; theme=dark",
        "HTTP_X_API_KEY": "key-123",
        "HTTP_X_FORWARDED_FOR": "203.0.113.5, 10.0.0.1",
        "HTTP_USER_AGENT": "ua/1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "13",
    }
    environ.update(extra)
    return environ


def test_environ_gives_url_method_query_and_title_cased_headers() -> None:
    facts = facts_from_environ(_environ())

    assert facts.url == "http://shop.example:8000/orders/7"
    assert facts.method == "POST"
    assert facts.query_string == "page=2&token=zzz"
    assert facts.headers["User-Agent"] == "ua/1"
    assert facts.headers["Content-Type"] == "application/json"
    assert facts.client_ip() == "203.0.113.5"


def test_forwarded_host_and_scheme_are_used_only_when_asked() -> None:
    environ = _environ(HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST="public.example")

    assert facts_from_environ(environ).url.startswith("http://shop.example:8000/")
    assert facts_from_environ(environ, True).url == "https://public.example/orders/7"


def test_without_pii_sensitive_headers_are_filtered_and_cookies_ip_left_out() -> None:
    request, meta = collect_request(facts_from_environ(_environ()), send_default_pii=False)

    headers = request["headers"]
    for name in ("Authorization", "Cookie", "X-Api-Key", "X-Forwarded-For"):
        assert headers[name] == "[Filtered]"
        assert meta["headers"][name] == FILTERED_META
    assert headers["User-Agent"] == "ua/1"
    assert "cookies" not in request
    assert "REMOTE_ADDR" not in request["env"]
    assert "s3cret" not in json.dumps(request)


def test_with_pii_headers_cookies_and_peer_address_are_kept() -> None:
    request, meta = collect_request(facts_from_environ(_environ()), send_default_pii=True)

    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["cookies"] == {"sessionid": "abc", "theme": "dark"}
    assert request["env"]["REMOTE_ADDR"] == "10.0.0.9"
    assert meta == {}


def test_json_and_form_bodies_are_decoded_other_types_marked_raw() -> None:
    assert decode_body("application/json; charset=utf-8", b'{"a": [1]}') == ({"a": [1]}, None)
    assert decode_body("application/vnd.api+json", b'{"a": 1}') == ({"a": 1}, None)
    form, meta = decode_body("application/x-www-form-urlencoded", b"a=1&b=&a=2")
    assert (form, meta) == ({"a": ["1", "2"], "b": ""}, None)
    assert decode_body("application/octet-stream", b"\x00") == ("", {"rem": [["!raw", "x"]]})
    assert decode_body("application/json", b"{not json") == ("", {"rem": [["!raw", "x"]]})


def test_body_over_the_limit_is_an_annotated_empty_string() -> None:
    facts = facts_from_environ(_environ())

    request, meta = collect_request(facts, send_default_pii=False, is_body_over_limit=True)

    assert request["data"] == ""
    assert meta["data"] == {"": {"rem": [["!config", "x"]]}}


def test_body_limits_follow_max_request_body_size() -> None:
    assert [body_limit(size) for size in ("never", "small", "medium", "always")] == [
        0,
        1000,
        10_000,
        None,
    ]


def test_recorder_keeps_nothing_once_past_its_limit() -> None:
    recorder = BodyRecorder(limit=5)
    recorder.add(b"abc")
    assert recorder.value() == b"abc"
    recorder.add(b"def")

    assert recorder.is_too_large
    assert recorder.value() == b""


def test_asgi_scope_gives_url_headers_and_client() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "server": ("10.1.1.1", 443),
        "path": "/api/items",
        "root_path": "/api",
        "query_string": b"q=1",
        "client": ("198.51.100.7", 5555),
        "headers": [
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-real-ip", b"192.0.2.1"),
            (b"accept", b"text/html"),
            (b"accept", b"*/*"),
        ],
    }

    facts = facts_from_asgi_scope(scope)

    assert facts.url == "https://10.1.1.1/api/items"
    assert facts.query_string == "q=1"
    assert facts.headers["Accept"] == "text/html, */*"
    assert parse_cookies(facts.headers["Cookie"]) == {"a": "1", "b": "2"}
    assert facts.client_ip() == "192.0.2.1"
    assert facts.remote_addr == "198.51.100.7"


def test_header_names_are_title_cased_from_either_spelling() -> None:
    assert "X-Api-Key" == header_name("x-api-key") == header_name("X_API_KEY")


def test_deeply_nested_json_body_is_marked_raw_not_raised() -> None:
    assert decode_body("application/json", b"[" * 100_000) == ("", {"rem": [["!raw", "x"]]})


@settings(max_examples=60, deadline=None)
@given(
    headers=st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=40)), max_size=8),
    path=st.text(max_size=30),
    query=st.binary(max_size=30),
    body=st.binary(max_size=200),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]),
    pii=st.booleans(),
)
def test_any_asgi_request_gives_a_valid_event(
    headers: list[tuple[bytes, bytes]],
    path: str,
    query: bytes,
    body: bytes,
    content_type: str,
    pii: bool,
) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": query,
        "headers": [*headers, (b"content-type", content_type.encode())],
        "client": ("127.0.0.1", 1),
    }
    facts = facts_from_asgi_scope(scope)
    request, meta = collect_request(facts, send_default_pii=pii, body=body)
    event: dict[str, Any] = {"message": "m"}
    add_request_to_event(event, request, meta, client_ip=facts.client_ip() if pii else None)  # type: ignore[arg-type]

    assert_valid_event(event)


@settings(max_examples=40, deadline=None)
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=12).map(lambda k: "HTTP_" + k.upper()),
        st.text(max_size=30),
        max_size=6,
    ),
    path=st.text(max_size=30),
)
def test_any_environ_gives_a_valid_event(extra: dict[str, str], path: str) -> None:
    environ = _environ(PATH_INFO=path.encode("utf-8", "replace").decode("latin-1"), **extra)
    request, meta = collect_request(facts_from_environ(environ), send_default_pii=False)
    event: dict[str, Any] = {"message": "m"}
    add_request_to_event(event, request, meta)  # type: ignore[arg-type]

    assert_valid_event(event)
