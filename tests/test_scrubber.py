from __future__ import annotations

import re
import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.relay import assert_valid_event
from tripwire.options import Options
from tripwire.scrubber import (
    DEFAULT_DENYLIST,
    DEFAULT_KEY_TERMS,
    DEFAULT_PII_DENYLIST,
    DEFAULT_VALUE_PATTERNS,
    FILTERED,
    EventScrubber,
    scrub_event,
    scrubber_for,
)
from tripwire.serializer import serialize_event

SUBSTITUTED = {"": {"rem": [["!config", "s"]]}}


def scrubbed(scrubber: EventScrubber | None = None, **fields: Any) -> dict[str, Any]:
    source: dict[str, Any] = {
        "event_id": "5f0c9b7e2d8a4c1e9b3a7d6f1e2c4b8a",
        "timestamp": 1714564800.25,
        "platform": "python",
        "level": "error",
        **fields,
    }
    event: dict[str, Any] = serialize_event(source, Options())  # type: ignore[arg-type, assignment]
    scrub_event(event, scrubber)  # type: ignore[arg-type]
    assert_valid_event(event)
    return event


def frames_event(local_vars: dict[str, Any], **frame: Any) -> dict[str, Any]:
    return {
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "bad",
                    "stacktrace": {
                        "frames": [{"function": "f", "lineno": 1, "vars": local_vars, **frame}]
                    },
                }
            ]
        }
    }


def test_sentry_names_and_defaults_are_offered() -> None:
    assert "password" in DEFAULT_DENYLIST
    assert "XSRF-TOKEN" in DEFAULT_DENYLIST
    assert DEFAULT_PII_DENYLIST == ["x_forwarded_for", "x_real_ip", "ip_address", "remote_addr"]
    EventScrubber(denylist=["a"], recursive=False, send_default_pii=True, pii_denylist=["b"])


def test_keys_containing_a_secret_term_are_filtered_in_any_case() -> None:
    event = scrubbed(extra={"db_password": "x", "Secret_Token": "y", "APIKEY": "z", "user": "u"})

    assert event["extra"] == {
        "db_password": FILTERED,
        "Secret_Token": FILTERED,
        "APIKEY": FILTERED,
        "user": "u",
    }
    assert event["_meta"]["extra"]["db_password"] == SUBSTITUTED


def test_nested_values_are_scrubbed_everywhere_by_default() -> None:
    event = scrubbed(
        extra={"cfg": {"db": [{"password": "hunter2", "host": "h"}]}},
        user={"id": "u1", "data": {"session": "s"}},
        contexts={"app": {"credentials": {"k": "v"}}},
        breadcrumbs={"values": [{"timestamp": 1.0, "data": {"nested": {"token": "t"}}}]},
    )

    assert event["extra"]["cfg"]["db"][0] == {"password": FILTERED, "host": "h"}
    assert event["user"]["data"]["session"] == FILTERED
    assert event["contexts"]["app"]["credentials"] == FILTERED
    assert event["breadcrumbs"]["values"][0]["data"]["nested"]["token"] == FILTERED
    meta = event["_meta"]["extra"]["cfg"]["db"]["0"]["password"]
    assert meta == SUBSTITUTED


def test_recursive_false_scrubs_the_top_level_only() -> None:
    scrubber = EventScrubber(recursive=False)
    event = scrubbed(scrubber, extra={"token": "t", "cfg": {"password": "x"}})

    assert event["extra"] == {"token": FILTERED, "cfg": {"password": "x"}}


def test_frame_locals_are_scrubbed_by_name() -> None:
    event = scrubbed(**frames_event({"secret_token": "'abc'", "order": "<Order>"}))

    local_vars = event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert local_vars == {"secret_token": FILTERED, "order": "<Order>"}


def test_header_names_are_read_with_dashes_as_underscores() -> None:
    headers = {
        "X-Forwarded-For": "1.2.3.4",
        "X-Api-Key": "k",
        "Cookie": "a=b",
        "Set-Cookie": "c=d",
        "Proxy-Authorization": "Basic x",
        "Authorization": "Basic y",
        "User-Agent": "ua",
    }
    event = scrubbed(request={"url": "http://h/", "headers": headers})

    kept = event["request"]["headers"]
    assert kept.pop("User-Agent") == "ua"
    assert set(kept.values()) == {FILTERED}


def test_secret_headers_stay_filtered_with_a_custom_denylist_and_pii_on() -> None:
    scrubber = EventScrubber(denylist=["mine"], send_default_pii=True, key_terms=[])
    event = scrubbed(
        scrubber,
        request={"headers": {"Authorization": "a", "Cookie": "c", "X-Forwarded-For": "1.2.3.4"}},
        extra={"mine": 1, "password": "p"},
    )

    assert event["request"]["headers"] == {
        "Authorization": FILTERED,
        "Cookie": FILTERED,
        "X-Forwarded-For": "1.2.3.4",
    }
    assert event["extra"] == {"mine": FILTERED, "password": "p"}


def test_query_strings_lose_the_values_of_secret_parameters() -> None:
    event = scrubbed(
        request={
            "url": "https://shop.example/pay?order=17&api_key=k123#top",
            "query_string": "a=1&token=zzz&b=",
        },
        breadcrumbs={
            "values": [
                {
                    "timestamp": 1.0,
                    "type": "http",
                    "data": {"url": "http://api.example/v1?session_id=s", "http.query": "pwd=x"},
                }
            ]
        },
    )

    assert event["request"]["url"] == f"https://shop.example/pay?order=17&api_key={FILTERED}#top"
    assert event["request"]["query_string"] == f"a=1&token={FILTERED}&b="
    data = event["breadcrumbs"]["values"][0]["data"]
    assert data["url"] == f"http://api.example/v1?session_id={FILTERED}"
    assert data["http.query"] == f"pwd={FILTERED}"
    assert event["_meta"]["request"]["query_string"] == SUBSTITUTED


def test_url_passwords_are_removed_wherever_they_appear() -> None:
    event = scrubbed(
        request={"url": "postgres://app:hunter2@db.internal:5432/shop"},
        message="cannot reach redis://:s3cret@cache:6379/0 now",
    )

    assert event["request"]["url"] == f"postgres://app:{FILTERED}@db.internal:5432/shop"
    assert event["message"] == f"cannot reach redis://:{FILTERED}@cache:6379/0 now"
    start = len("cannot reach redis://:")
    remark = ["!config", "s", start, start + len(FILTERED)]
    assert event["_meta"]["message"] == {"": {"rem": [remark]}}


def test_secrets_are_recognised_by_their_shape_inside_strings() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    samples = {
        "card": ("paid with 4111 1111 1111 1111 today", f"paid with {FILTERED} today"),
        "header": ("Authorization: Bearer abc.def-123456", f"Authorization: Bearer {FILTERED}"),
        "aws": ("key AKIAIOSFODNN7EXAMPLE used", f"key {FILTERED} used"),
        "github": ("ghp_" + "a" * 36, FILTERED),
        "web": (f"jwt={jwt}", f"jwt={FILTERED}"),
        "pem": (pem, f"-----BEGIN RSA PRIVATE KEY-----{FILTERED}-----END RSA PRIVATE KEY-----"),
    }
    event = scrubbed(extra={f"sample {name}": text for name, (text, _) in samples.items()})

    for name, (_, expected) in samples.items():
        assert event["extra"][f"sample {name}"] == expected, name


def test_a_number_failing_luhn_or_without_a_card_prefix_is_kept() -> None:
    event = scrubbed(
        message="order 4111111111111112 at 1714564800250731",
        extra={"amount": 4111111111111111, "ts": 1714564800250731},
    )

    assert event["message"] == "order 4111111111111112 at 1714564800250731"
    assert event["extra"] == {"amount": FILTERED, "ts": 1714564800250731}


def test_secret_shapes_in_source_lines_and_exception_values_are_replaced() -> None:
    line = "    KEY = 'AKIAIOSFODNN7EXAMPLE'"
    event = scrubbed(**frames_event({"n": "1"}, context_line=line, pre_context=["x = 1"]))
    event["exception"]["values"][0]["value"] = "postgres://u:pw@h/db failed"
    scrub_event(event)  # type: ignore[arg-type]

    frame = event["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert frame["context_line"] == f"    KEY = '{FILTERED}'"
    assert event["exception"]["values"][0]["value"] == f"postgres://u:{FILTERED}@h/db failed"


def test_users_extend_key_terms_and_value_patterns() -> None:
    scrubber = EventScrubber(
        key_terms=[*DEFAULT_KEY_TERMS, "ssn"],
        value_patterns=[*DEFAULT_VALUE_PATTERNS, re.compile(r"EMP-\d{6}")],
    )
    event = scrubbed(scrubber, extra={"customer_ssn": "123-45-6789", "note": "employee EMP-123456"})

    assert event["extra"] == {"customer_ssn": FILTERED, "note": f"employee {FILTERED}"}


def test_an_ip_address_the_application_set_is_kept() -> None:
    event = scrubbed(user={"id": "u1", "email": "a@b.c", "ip_address": "1.2.3.4"})

    assert event["user"] == {"id": "u1", "email": "a@b.c", "ip_address": "1.2.3.4"}


def test_pii_keys_are_filtered_elsewhere_unless_pii_is_sent() -> None:
    env = {"REMOTE_ADDR": "1.2.3.4", "SERVER_NAME": "h"}
    without = scrubbed(request={"env": dict(env)})
    with_pii = scrubbed(EventScrubber(send_default_pii=True), request={"env": dict(env)})

    assert without["request"]["env"] == {"REMOTE_ADDR": FILTERED, "SERVER_NAME": "h"}
    assert with_pii["request"]["env"] == env


def test_trace_context_ids_are_left_alone() -> None:
    trace = {"trace_id": "a" * 32, "span_id": "b" * 16, "public_key": "k"}
    event = scrubbed(contexts={"trace": dict(trace)})

    assert event["contexts"]["trace"]["public_key"] == "k"


def test_a_clean_event_gets_no_meta() -> None:
    event = scrubbed(message="all good", extra={"n": 1}, **frames_event({"x": "1"}))

    assert "_meta" not in event


def test_source_lines_seen_clean_are_scrubbed_when_they_change() -> None:
    scrubber = EventScrubber()
    scrubbed(scrubber, **frames_event({}, context_line="x = 1"))
    event = scrubbed(scrubber, **frames_event({}, context_line="x = 'AKIAIOSFODNN7EXAMPLE'"))

    assert event["exception"]["values"][0]["stacktrace"]["frames"][0]["context_line"] == (
        f"x = '{FILTERED}'"
    )


@settings(max_examples=60, deadline=None)
@given(
    value=st.recursive(
        st.one_of(st.none(), st.integers(), st.text(), st.floats(allow_nan=False)),
        lambda children: st.one_of(
            st.lists(children, max_size=8),
            st.dictionaries(st.text(max_size=12), children, max_size=8),
        ),
        max_leaves=60,
    ),
    text=st.text(),
)
def test_any_serialized_event_stays_valid_after_scrubbing(value: object, text: str) -> None:
    scrubbed(
        message=text,
        extra={"v": value, text: value},
        user={"id": "u", "data": {"v": value}},
        request={"url": f"http://h/?{text}", "query_string": text, "headers": {"X": text}},
        breadcrumbs={"values": [{"timestamp": 1.0, "message": text, "data": {"v": value}}]},
        **frames_event({"v": text}),
    )


def test_the_scrubber_the_options_ask_for_is_used() -> None:
    mine = EventScrubber(key_terms=[])

    assert scrubber_for(Options(event_scrubber=mine)) is mine
    assert scrubber_for(Options()).send_default_pii is False
    assert scrubber_for(Options(send_default_pii=True)).send_default_pii is True
    assert scrubber_for(Options()) is scrubber_for(Options())


def test_key_terms_match_whole_words_not_letters_inside_words() -> None:
    scrubber = EventScrubber()
    for innocent in ("processor_count", "inside", "author", "monkey", "keyboard"):
        assert not scrubber.is_secret_key(innocent), innocent
    for secret in ("X-Auth-Token", "dbPassword", "accesstoken", "client_secret", "user_pwd"):
        assert scrubber.is_secret_key(secret), secret


def test_threads_can_share_one_scrubber() -> None:
    scrubber = EventScrubber()
    failures: list[str] = []

    def work(index: int) -> None:
        for round_ in range(50):
            secret = round_ % 2 == 0
            text = f"postgres://u:pw{index}@h/db" if secret else f"plain text {index}"
            event = scrubbed(scrubber, message=text, extra={"n": index})
            expected = f"postgres://u:{FILTERED}@h/db" if secret else text
            if event["message"] != expected:
                failures.append(f"{index}/{round_}: {event['message']!r}")

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
