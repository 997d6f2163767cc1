"""Rate limits (protocol.md §7): parsed leniently, honoured per category until they expire."""

from __future__ import annotations

import time

from tests.transport.conftest import MakeTransport, event_envelope
from tripwire import drops
from tripwire.envelope import Envelope, Item
from tripwire.testing import Collector, Response
from tripwire.transport.ratelimits import RateLimits, parse_retry_after


def test_header_limits_each_listed_category_and_ignores_the_scope() -> None:
    limits = RateLimits()
    limits.update(200, {"X-Sentry-Rate-Limits": "60:transaction:key, 30:default;error:org"}, 0)

    assert limits.is_limited("error", 29)
    assert limits.is_limited("transaction", 59)
    assert not limits.is_limited("error", 31)
    assert not limits.is_limited("attachment", 1)


def test_empty_category_list_limits_everything_but_client_reports() -> None:
    limits = RateLimits()
    limits.update(429, {"X-Sentry-Rate-Limits": "10::organization"}, 0)

    assert limits.is_limited("error", 5)
    assert limits.is_limited("attachment", 5)
    assert not limits.is_limited("internal", 5)


def test_float_seconds_round_up_and_a_shorter_limit_never_shortens_a_longer_one() -> None:
    limits = RateLimits()
    limits.update(429, {"X-Sentry-Rate-Limits": "1.5:error:key"}, 0)
    limits.update(429, {"X-Sentry-Rate-Limits": "100:error:key"}, 0)
    limits.update(429, {"X-Sentry-Rate-Limits": "5:error:key"}, 0)

    assert limits.is_limited("error", 99)
    assert not limits.is_limited("error", 101)


def test_unknown_categories_are_ignored_and_garbage_entries_skipped() -> None:
    limits = RateLimits()
    limits.update(429, {"X-Sentry-Rate-Limits": "abc:error:key, 60:nonsense:key, 7"}, 0)

    assert not limits.is_limited("error", 1)
    assert not limits.is_limited("nonsense", 1)


def test_429_without_the_header_limits_all_categories_for_retry_after() -> None:
    limits = RateLimits()
    limits.update(429, {"Retry-After": "20"}, 0)

    assert limits.is_limited("error", 19)
    assert not limits.is_limited("error", 21)


def test_retry_after_accepts_http_dates_and_falls_back_to_60_seconds() -> None:
    now = 1_700_000_000.0
    moment = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))

    assert parse_retry_after(moment, now) == 30
    assert parse_retry_after("soon", now) == 60
    assert parse_retry_after(None, now) == 60
    assert parse_retry_after("2.2", now) == 3


def test_a_limited_category_is_not_sent_until_expiry_and_is_counted(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(
        Response(429, {"Retry-After": "1", "X-Sentry-Rate-Limits": "1:error:project"})
    )
    transport = make_transport()
    transport.capture_envelope(event_envelope("rate limited by the server"))
    transport.flush(5)
    for number in range(3):
        transport.capture_envelope(event_envelope(f"held back {number}"))
    transport.flush(5)

    assert [r.status for r in collector.requests if r.event] == [429]
    assert transport.drops.totals() == {(drops.RATELIMIT_BACKOFF, "error"): 3}
    assert collector.discarded() == {(drops.RATELIMIT_BACKOFF, "error"): 3}

    time.sleep(1.1)  # the limit expires
    transport.capture_envelope(event_envelope("after expiry"))
    assert transport.flush(5)
    assert [e["message"]["formatted"] for e in collector.events] == ["after expiry"]


def test_only_the_limited_items_of_an_envelope_are_removed(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(Response(200, {"X-Sentry-Rate-Limits": "60:attachment:key"}))
    transport = make_transport()
    transport.capture_envelope(event_envelope("sets the limit"))
    transport.flush(5)
    envelope: Envelope = event_envelope("keeps its event")
    envelope.add_item(Item.attachment(b"x" * 100, "big.bin"))
    transport.capture_envelope(envelope)

    assert transport.flush(5)
    last = collector.accepted[-2 if collector.accepted[-1].event is None else -1]
    assert last.envelope is not None
    assert [item.type for item in last.envelope.items] == ["event"]
    assert transport.drops.totals() == {(drops.RATELIMIT_BACKOFF, "attachment"): 100}
