from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from tests.inbox.conftest import envelope, envelope_url, make_event, post
from tests.relay import assert_valid_event
from tripwire.inbox import queries
from tripwire.inbox.runner import BackgroundInbox
from tripwire.inbox.storage import Storage

# An SDK in a subprocess (its global state stays out of this process); each event it sends
# is also printed as JSON by before_send, so the test can compare both ends.
_APP = """
import json, logging, sys
import {sdk} as sentry_sdk

def keep(event, hint):
    print(json.dumps(event, default=str), flush=True)
    return event

sentry_sdk.init(dsn=sys.argv[1], before_send=keep, include_local_variables=True)

class PaymentFailed(Exception):
    pass

def charge(order_id):
    amount = order_id * 100
    raise ConnectionRefusedError(111, "Connection refused")

def pay(order_id):
    try:
        charge(order_id)
    except OSError as exc:
        raise PaymentFailed(f"could not charge order {order_id}") from exc

for order_id in (17, 18):
    try:
        pay(order_id)
    except PaymentFailed:
        sentry_sdk.capture_exception()
logging.getLogger("shop").error("stock for %s below %d", "SKU-9", 5)
sentry_sdk.flush(timeout=10)
"""


def _run_sdk(sdk: str, dsn: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", _APP.replace("{sdk}", sdk), dsn],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("sdk", ["sentry_sdk", "tripwire"])
def test_sdk_events_are_stored_as_sent_and_grouped(
    sdk: str, inbox: BackgroundInbox, storage: Storage
) -> None:
    """The official SDK and tripwire, pointed at the inbox's DSN with no other change."""
    sent = _run_sdk(sdk, inbox.dsn)

    assert len(sent) == 3
    stored = {e.event_id: e for e in queries.events_after(storage, 0)}
    assert {str(e["event_id"]) for e in sent} == set(stored)
    for event in sent:
        body = stored[str(event["event_id"])].body
        wire = json.loads(json.dumps(event))
        # After before_send the SDK moves this into the envelope header (protocol.md §5.1).
        wire["contexts"]["trace"].pop("dynamic_sampling_context", None)
        assert wire == body
        assert_valid_event(body)
    payments = [i for i in queries.issues(storage) if "PaymentFailed" in i.title]
    assert [i.times_seen for i in payments] == [2]
    assert "could not charge order <num>" not in payments[0].title  # title stays readable
    [logged] = [i for i in queries.issues(storage) if i.level == "error" and i.id != payments[0].id]
    assert logged.title == "stock for SKU-9 below 5"


def test_store_endpoint_takes_a_deflated_event_with_the_key_in_the_query(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    event = make_event()
    key = storage.default_project().public_key
    reply = post(
        f"{inbox.url}/api/1/store?sentry_key={key}&sentry_version=7",
        zlib.compress(json.dumps(event).encode()),
        headers={"Content-Encoding": "deflate"},
    )
    assert (200, event["event_id"]) == (reply.status, reply.body["id"])
    assert queries.event(storage, event["event_id"]) is not None


def test_key_in_the_envelope_dsn_header_is_enough(inbox: BackgroundInbox, storage: Storage) -> None:
    event = make_event()
    reply = post(envelope_url(inbox), envelope(event, headers={"dsn": inbox.dsn}))
    assert reply.status == 200
    assert queries.event(storage, event["event_id"]) is not None


def test_missing_unknown_and_foreign_keys_are_refused(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    body = envelope(make_event())
    other = storage.create_project("other")
    key = storage.default_project().public_key

    assert post(envelope_url(inbox), body).status == 401
    assert post(envelope_url(inbox), body, key="0" * 32).status == 403
    assert post(envelope_url(inbox, other.id), body, key=key).status == 403
    mismatched = envelope(make_event(), headers={"dsn": other.dsn(inbox.url)})
    assert post(envelope_url(inbox), mismatched, key=key).status == 403
    assert queries.events_after(storage, 0) == []


def test_each_refusal_says_why_in_one_line(inbox: BackgroundInbox, storage: Storage) -> None:
    key = storage.default_project().public_key
    reply = post(envelope_url(inbox), b'{}\n{"type":"event","length":99}\n{}', key=key)
    assert reply.status == 400
    assert "item 0: length 99 exceeds the 2 bytes left (truncated?)" in reply.body["detail"]
    assert reply.body["detail"] == reply.headers["x-sentry-error"]


def test_a_bad_item_after_a_good_event_stores_nothing(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    body = envelope(make_event()) + b'{"type":"client_report"}\n{not json}\n'
    assert post(envelope_url(inbox), body, key=key).status == 400
    assert queries.events_after(storage, 0) == []
    assert storage.client_reports(1) == {}


def test_bad_gzip_is_a_400(inbox: BackgroundInbox, storage: Storage) -> None:
    key = storage.default_project().public_key
    reply = post(
        envelope_url(inbox), b"\x1f\x8b garbage", key=key, headers={"Content-Encoding": "gzip"}
    )
    assert reply.status == 400
    assert reply.body["detail"].startswith("bad gzip body")


def test_fifty_megabyte_body_is_a_413_with_a_reason(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    body = envelope(make_event()) + b'{"type":"attachment"}\n' + b"x" * (50 * 1024 * 1024)
    reply = post(envelope_url(inbox), body, key=key)
    assert reply.status == 413
    assert "limit" in reply.body["detail"]
    assert queries.events_after(storage, 0) == []


def test_gzipped_envelopes_with_unknown_items_and_client_reports_are_accepted(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    report = (
        b'{"discarded_events":[{"reason":"ratelimit_backoff","category":"error","quantity":2}]}'
    )
    event = make_event()
    body = (
        envelope(event)
        + b'{"type":"brand_new_thing"}\n{"x":1}\n'
        + b'{"type":"client_report","length":%d}\n%s\n' % (len(report), report)
    )
    reply = post(envelope_url(inbox), body, key=key, gzipped=True)
    assert (200, event["event_id"]) == (reply.status, reply.body["id"])
    assert storage.client_reports(1) == {("ratelimit_backoff", "error"): 2}


def test_spotlight_stream_needs_no_key_and_fills_the_default_project(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    event = make_event()
    reply = post(
        f"{inbox.url}/stream",
        envelope(event),
        headers={"Content-Type": "application/x-sentry-envelope"},
    )
    assert reply.status == 200
    stored = queries.event(storage, event["event_id"])
    assert stored is not None
    assert stored.project_id == 1


def test_cors_preflight_allows_browser_sdks(inbox: BackgroundInbox) -> None:
    request = urllib.request.Request(
        envelope_url(inbox),
        method="OPTIONS",
        headers={"Origin": "http://app.test", "Access-Control-Request-Method": "POST"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_ingest_and_reads_from_another_connection_run_together(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    """A second process-like reader (the CLI) polls while many threads post: no lock errors."""
    key = storage.default_project().public_key
    failures: list[object] = []
    reader = Storage(storage.path)

    def send(thread: int) -> None:
        for index in range(25):
            event = make_event(value=f"thread {thread} event {index}")
            reply = post(envelope_url(inbox), envelope(event), key=key)
            if reply.status != 200:
                failures.append(reply)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        while any(t.is_alive() for t in threads):
            queries.issues(reader, "is:unresolved level:error")
            queries.events_after(reader, 0, limit=10)
    finally:
        for thread in threads:
            thread.join()
        reader.close()
    assert failures == []
    assert sum(i.times_seen for i in queries.issues(storage)) == 100


def test_official_sdk_with_spotlight_and_no_dsn_lands_in_the_default_project(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    code = (
        "import sys, sentry_sdk\n"
        "sentry_sdk.init(spotlight=sys.argv[1])\n"
        "sentry_sdk.capture_message('seen by spotlight')\n"
        "sentry_sdk.flush(timeout=10)\n"
    )
    subprocess.run([sys.executable, "-c", code, f"{inbox.url}/stream"], check=True, timeout=60)
    [issue] = queries.issues(storage)
    assert (issue.title, issue.project_id) == ("seen by spotlight", 1)


def _stored_body(storage: Storage, event_id: str) -> bytes:
    row = storage.reader.execute("SELECT body FROM events WHERE event_id = ?", (event_id,))
    body: bytes = row.fetchone()[0]
    return body


def test_a_gzipped_envelope_of_one_event_is_kept_as_it_came_and_reads_back_whole(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    event = make_event()
    reply = post(envelope_url(inbox), envelope(event), key=key, gzipped=True)
    assert reply.status == 200
    assert _stored_body(storage, event["event_id"])[:2] == b"\x1f\x8b"
    stored = queries.event(storage, event["event_id"])
    assert stored is not None
    assert stored.body == event


def test_an_envelope_with_more_than_its_event_stores_only_the_event(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    event = make_event()
    body = envelope(event) + b'{"type":"session"}\n{"sid":"x"}\n'
    assert post(envelope_url(inbox), body, key=key, gzipped=True).status == 200
    assert _stored_body(storage, event["event_id"])[:1] == b"\x78"  # zlib, the event alone
    stored = queries.event(storage, event["event_id"])
    assert stored is not None
    assert stored.body == event


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def test_a_full_write_queue_answers_429_with_retry_after_and_pages_stay_up(
    storage: Storage,
) -> None:
    key = storage.default_project().public_key
    replies: list[int] = []
    with BackgroundInbox(storage, max_queued_events=2) as inbox:
        writer = inbox.app.inbox.writer

        def send() -> None:
            replies.append(post(envelope_url(inbox), envelope(make_event()), key=key).status)

        senders = [threading.Thread(target=send) for _ in range(2)]
        with storage.transaction():  # the disk is stuck: nothing can be written meanwhile
            for number, sender in enumerate(senders, 1):
                sender.start()
                _wait_until(lambda n=number: writer.queued_events == n, f"{number} queued")
            refused = post(envelope_url(inbox), envelope(make_event()), key=key)
            with urllib.request.urlopen(f"{inbox.url}/", timeout=30) as page:
                assert page.status == 200
        for sender in senders:
            sender.join()
    assert refused.status == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-sentry-rate-limits"].startswith("1::")
    assert "waiting to be written" in refused.body["detail"]
    assert replies == [200, 200]
    assert len(queries.events_after(storage, 0)) == 2


def test_an_event_waits_out_another_writer_of_the_database_and_pages_stay_up(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    """Another process (here a connection of our own) holding the write lock delays the
    answer, not the event loop; the 200 comes once the event is in."""
    key = storage.default_project().public_key
    event = make_event()
    replies: list[int] = []
    sender = threading.Thread(
        target=lambda: replies.append(post(envelope_url(inbox), envelope(event), key=key).status)
    )
    other = sqlite3.connect(storage.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    sender.start()
    _wait_until(lambda: inbox.app.inbox.writer.queued_events == 1, "the event queued")
    with urllib.request.urlopen(f"{inbox.url}/", timeout=30) as page:
        assert page.status == 200
    assert replies == []
    other.execute("COMMIT")
    other.close()
    sender.join()
    assert replies == [200]
    [stored] = queries.events_after(storage, 0)
    assert event["event_id"] == stored.event_id


def test_attachments_are_stored_with_their_event_and_go_with_it(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    event = make_event()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    body = (
        envelope(event)
        + b'{"type":"attachment","filename":"shot.png","content_type":"image/png",'
        + b'"length":%d}\n%s\n' % (len(png), png)
    )
    assert post(envelope_url(inbox), body, key=key, gzipped=True).status == 200
    stored = queries.event(storage, event["event_id"])
    assert stored is not None
    assert stored.body == event  # the attachment is not part of the stored event
    [listed] = queries.attachments(storage, stored.id)
    assert (listed.filename, listed.content_type, listed.size) == ("shot.png", "image/png", 264)
    assert queries.attachment(storage, listed.id) == (listed, png)

    storage.set_setting("retention_days", 0)
    storage.prune(now=time.time() + 1)
    assert queries.attachment(storage, listed.id) is None


def test_a_large_envelope_is_decoded_off_the_loop_and_stored_whole(
    inbox: BackgroundInbox, storage: Storage
) -> None:
    key = storage.default_project().public_key
    event = make_event()
    dump = os.urandom(3 * 1024 * 1024)
    body = envelope(event) + b'{"type":"attachment","filename":"heap.bin","length":%d}\n%s\n' % (
        len(dump),
        dump,
    )
    assert post(envelope_url(inbox), body, key=key, gzipped=True).status == 200
    stored = queries.event(storage, event["event_id"])
    assert stored is not None
    [listed] = queries.attachments(storage, stored.id)
    assert queries.attachment(storage, listed.id) == (listed, dump)
