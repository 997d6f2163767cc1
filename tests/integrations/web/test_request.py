"""Request extraction and the send_default_pii collection rules, on plain environs and scopes."""

from __future__ import annotations

import io
import json
from typing import Any

from tripwire.integrations._request import (
    BodyRecorder,
    body_limit,
    collect_request,
    decode_body,
    header_name,
    parse_cookies,
)
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


def test_malformed_cookie_pairs_are_skipped() -> None:
    assert parse_cookies('a=1; junk; =2; c="x=y"') == {"a": "1", "c": "x=y"}
