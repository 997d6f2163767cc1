"""Secrets of a request kept out of events: sensitive header values, the peer address, secret
query parameters, and their removal from frame variables."""

from __future__ import annotations

from typing import Any

from tripwire.events.pending import finish_reprs
from tripwire.integrations._request_secrets import (
    is_sensitive_header,
    parse_cookies,
    redact_frame_variables,
    secret_values,
)
from tripwire.safe_repr import PendingRepr, safe_reprs
from tripwire.scrubber import EventScrubber

HEADERS = {
    "Authorization": "Bearer s3cret",
    "Cookie": "sessionid=abcdef; theme=red",
    "X-Api-Key": "key-123",
    "X-Forwarded-For": "203.0.113.5, 10.0.0.1",
    "User-Agent": "ua/1",
}
IS_SECRET_KEY = EventScrubber().is_secret_key


def test_malformed_cookie_pairs_are_skipped() -> None:
    assert parse_cookies('a=1; junk; =2; c="x=y"') == {"a": "1", "c": "x=y"}


def test_sensitive_headers_are_known_by_any_spelling() -> None:
    assert is_sensitive_header("x-api-key")
    assert is_sensitive_header("Proxy-Authorization")
    assert not is_sensitive_header("User-Agent")


def test_without_pii_credentials_cookie_values_and_addresses_are_secret() -> None:
    values = secret_values(
        HEADERS, "10.0.0.9", "page=2", send_default_pii=False, is_secret_key=IS_SECRET_KEY
    )

    for expected in ("Bearer s3cret", "s3cret", "abcdef", "key-123", "203.0.113.5", "10.0.0.9"):
        assert expected in values
    assert "ua/1" not in values
    assert "red" not in values  # shorter than four characters: would match unrelated text
    assert values == sorted(values, key=len, reverse=True)


def test_with_pii_headers_stay_but_secret_query_values_do_not() -> None:
    values = secret_values(
        HEADERS,
        "10.0.0.9",
        "page=2&access_token=tok%2Fen-77&api_key=&password=hunter2",
        send_default_pii=True,
        is_secret_key=IS_SECRET_KEY,
    )

    assert sorted(values) == ["hunter2", "tok%2Fen-77", "tok/en-77"]  # as sent and decoded


def test_secrets_in_frame_variables_are_filtered_even_where_a_repr_was_cut() -> None:
    event: dict[str, Any] = {
        "exception": {
            "values": [
                {
                    "stacktrace": {
                        "frames": [
                            {
                                "vars": {
                                    "environ": "{'HTTP_AUTHORIZATION': 'Bearer s3cret-token'}",
                                    "cut": "{'HTTP_COOKIE': 'sessionid=abcdef12...",
                                    "count": "3",
                                }
                            }
                        ]
                    }
                }
            ]
        }
    }

    redact_frame_variables(event, ["Bearer s3cret-token", "s3cret-token", "abcdef123456"])  # type: ignore[arg-type]

    variables = event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert variables == {
        "environ": "{'HTTP_AUTHORIZATION': '[Filtered]'}",
        "cut": "{'HTTP_COOKIE': 'sessionid=[Filtered]...",
        "count": "3",
    }


def test_secrets_in_reprs_left_for_the_worker_are_filtered_when_made() -> None:
    headers = ["Bearer s3cret-token", "s3cret-token"]
    kept = [("headers", headers), ("cut", "x" * 500 + "Bearer s3cret-token")]
    events: list[dict[str, Any]] = []
    for later in (True, False):
        reprs = safe_reprs(kept, 512, later=later)
        assert all((type(value) is PendingRepr) == later for value in reprs.values())
        event = {"exception": {"values": [{"stacktrace": {"frames": [{"vars": reprs}]}}]}}
        redact_frame_variables(event, ["Bearer s3cret-token", "s3cret-token"])  # type: ignore[arg-type]
        finish_reprs(event)
        events.append(event)

    later_event, at_once_event = events
    assert later_event == at_once_event  # the same text as when the reprs are made at once
    variables = later_event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert "s3cret" not in variables["headers"]
    assert "s3cret" not in variables["cut"]
    assert variables["cut"].endswith("[Filtered]...")  # cut inside the secret
