"""The web UI in headless Chromium: list, search, issue page, resolve, escaping."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.inbox.conftest import (
    UNTIMED,
    distinct_errors,
    envelope,
    envelope_url,
    event_shapes,
    make_event,
    post,
)
from tripwire.inbox.runner import BackgroundInbox
from tripwire.inbox.storage import Storage
from tripwire.inbox.ui.views import PAGE_SIZE

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundInbox]:
    """One inbox for the module, filled with issues the tests do not share."""
    storage = Storage(tmp_path_factory.mktemp("ui") / "inbox.sqlite3")
    rich = make_event(
        exc_type="PaymentFailed",
        value="could not charge order 17",
        user={"id": "u-1001", "email": "ada@example.com"},
        request={
            "method": "POST",
            "url": "http://shop.test/checkout",
            "headers": {"Accept": "*/*"},
        },
        contexts={"runtime": {"name": "CPython", "version": "3.12.3"}},
        tags={"region": "eu-west"},
    )
    [payment] = rich["exception"]["values"]
    cause = make_event(exc_type="ConnectionRefusedError", value="[Errno 111] refused")
    [cause_value] = cause["exception"]["values"]
    cause_value["mechanism"] = {"type": "chained", "source": "__cause__", "exception_id": 1}
    rich["exception"]["values"] = [cause_value, payment]
    batch: list[dict[str, Any]] = [rich]
    batch += [make_event(exc_type="KeyError", value=f"'user_{n}'") for n in range(4)]
    batch.append(make_event(exc_type="TimeoutError", value="slow", level="warning"))
    batch.append(make_event(exc_type="ResolveMe", value="fix me"))
    batch.append(make_event(exc_type="IgnoreMe", value="noise"))
    logged = make_event(
        logger="shop.stock",
        logentry={
            "message": "stock for %s low",
            "params": ["SKU-9"],
            "formatted": "stock for SKU-9 low",
        },
        level="warning",
    )
    frames = logged.pop("exception")["values"][0]["stacktrace"]["frames"]
    logged["threads"] = {
        "values": [{"current": True, "name": "MainThread", "stacktrace": {"frames": frames}}]
    }
    batch.append(logged)
    storage.store_events(1, batch)
    with BackgroundInbox(storage) as running:
        key = storage.default_project().public_key
        hostile = make_event(
            exc_type="RuntimeError",
            value=HOSTILE,
            tags={"evil": HOSTILE},
            breadcrumbs={"values": [{"message": HOSTILE, "category": "x"}]},
        )
        hostile["exception"]["values"][0]["stacktrace"]["frames"][-1]["vars"] = {"v": HOSTILE}
        assert post(envelope_url(running), envelope(hostile), key=key).status == 200
        yield running
    storage.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


def _row(page: Page, title: str) -> Any:
    return page.locator("tr.issue", has_text=title)


def test_list_shows_grouped_issues_with_counts(page: Page, ui: BackgroundInbox) -> None:
    page.goto(ui.url)
    expect(_row(page, "KeyError")).to_have_count(1)
    expect(_row(page, "KeyError").locator(".count")).to_have_text("4")
    expect(_row(page, "PaymentFailed").locator(".culprit")).to_have_text("app.views in compute")
    expect(_row(page, "KeyError").locator("svg.histogram rect")).to_have_count(24)


def test_search_box_filters_by_level_tag_and_text(page: Page, ui: BackgroundInbox) -> None:
    page.goto(ui.url)
    page.fill("input[name=q]", "is:unresolved level:warning slow")
    page.click("header button[type=submit]")
    expect(page.locator("tr.issue .title")).to_have_text(["TimeoutError: slow"])
    page.fill("input[name=q]", "level:warning")
    page.press("input[name=q]", "Enter")
    expect(page.locator("tr.issue")).to_have_count(2)

    page.fill("input[name=q]", "region:eu-west")
    page.press("input[name=q]", "Enter")
    expect(page.locator("tr.issue .title")).to_have_text(
        ["PaymentFailed: could not charge order 17"]
    )

    page.fill("input[name=q]", "project:default TimeoutError")
    page.press("input[name=q]", "Enter")
    expect(page.locator("tr.issue .title")).to_have_text(["TimeoutError: slow"])

    page.fill("input[name=q]", "no such words")
    page.press("input[name=q]", "Enter")
    expect(page.locator(".empty .dsn")).to_contain_text(f"@127.0.0.1:{ui.port}/1")


def test_sort_by_events_puts_the_busiest_issue_first(page: Page, ui: BackgroundInbox) -> None:
    page.goto(ui.url)
    page.select_option("select[name=sort]", "times_seen")
    page.click("nav button[type=submit]")
    expect(page.locator("tr.issue .title").first).to_have_text("KeyError: 'user_3'")


def test_issue_page_shows_chain_frames_locals_and_event_data(
    page: Page, ui: BackgroundInbox
) -> None:
    page.goto(ui.url)
    page.click("text=PaymentFailed: could not charge order 17")
    expect(page.locator("h1.title")).to_have_text("PaymentFailed: could not charge order 17")
    lines = page.locator(".exc-line")
    expect(lines).to_have_text(
        ["ConnectionRefusedError: [Errno 111] refused", "PaymentFailed: could not charge order 17"]
    )
    expect(page.locator(".chain-text")).to_have_text(
        "The above exception was the direct cause of the following exception:"
    )
    in_app = page.locator(".exception").last.locator("li.frame.in-app")
    expect(in_app).to_have_count(2)
    expect(in_app.last.locator("tr.current")).to_contain_text("return compute(request)")
    expect(in_app.last.locator(".locals")).to_contain_text("<Request '/'>")
    folded = page.locator(".exception").last.locator("li.folded details")
    expect(folded).not_to_have_attribute("open", "")
    expect(folded.locator("summary")).to_have_text("1 frame outside the app")
    expect(page.locator(".breadcrumbs")).to_contain_text("cart loaded")
    expect(page.locator("main")).to_contain_text("ada@example.com")
    expect(page.locator("main")).to_contain_text("http://shop.test/checkout")
    expect(page.locator("main")).to_contain_text("Context: runtime")
    expect(page.locator(".other-events li")).to_have_count(1)


def test_a_logged_message_shows_its_text_and_stack(page: Page, ui: BackgroundInbox) -> None:
    page.goto(f"{ui.url}/?q=stock")
    page.click("text=stock for SKU-9 low")
    expect(page.locator("pre.message")).to_have_text("stock for SKU-9 low")
    expect(page.locator("h3", has_text="Stack (MainThread)")).to_have_count(1)
    expect(page.locator("li.frame.in-app")).to_have_count(2)


def test_resolve_and_ignore_change_the_status_and_the_lists(
    page: Page, ui: BackgroundInbox
) -> None:
    page.goto(ui.url)
    page.click("text=ResolveMe: fix me")
    page.click("button:has-text('Resolve')")
    expect(page.locator("#status")).to_have_text("resolved")
    page.goto(ui.url)
    expect(_row(page, "ResolveMe")).to_have_count(0)
    page.click("nav a:text-is('Resolved')")
    expect(_row(page, "ResolveMe")).to_have_count(1)

    page.goto(ui.url)
    page.click("text=IgnoreMe: noise")
    page.click("button:has-text('Ignore')")
    expect(page.locator("#status")).to_have_text("ignored")
    page.click("button:has-text('Unresolve')")
    expect(page.locator("#status")).to_have_text("unresolved")


def test_a_resolved_issue_that_recurs_shows_as_regressed(page: Page, ui: BackgroundInbox) -> None:
    key = ui.storage.default_project().public_key
    first = make_event(exc_type="ComesBack", value="again")
    assert post(envelope_url(ui), envelope(first), key=key).status == 200
    page.goto(f"{ui.url}/?q=ComesBack")
    page.click("text=ComesBack: again")
    page.click("button:has-text('Resolve')")
    expect(page.locator("#status")).to_have_text("resolved")
    second = make_event(exc_type="ComesBack", value="again")
    assert post(envelope_url(ui), envelope(second), key=key).status == 200
    page.reload()
    expect(page.locator(".issue-head .badge.regressed")).to_have_count(1)
    page.goto(f"{ui.url}/?q=is:regressed")
    expect(_row(page, "ComesBack")).to_have_count(1)


def test_markup_in_events_is_shown_as_text_and_never_runs(page: Page, ui: BackgroundInbox) -> None:
    page.goto(ui.url)
    expect(page.locator("tr.issue .title", has_text="RuntimeError")).to_have_text(
        f"RuntimeError: {HOSTILE}"
    )
    page.locator("tr.issue .title", has_text="RuntimeError").click()
    expect(page.locator(".exc-value")).to_have_text(HOSTILE)
    expect(page.locator(".breadcrumbs")).to_contain_text(HOSTILE)
    expect(page.locator(".tag-counts")).to_contain_text(HOSTILE)
    expect(page.locator("main script, main img")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None


def test_status_change_from_another_site_is_refused(ui: BackgroundInbox) -> None:
    request = urllib.request.Request(
        f"{ui.url}/issues/1/status",
        data=b"status=resolved",
        headers={"Origin": "http://evil.test", "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    refused.value.close()


def test_pages_refuse_a_foreign_host_name(ui: BackgroundInbox) -> None:
    """A site rebinding its own name to 127.0.0.1 cannot read the inbox."""
    request = urllib.request.Request(f"{ui.url}/", headers={"Host": "evil.test"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    refused.value.close()
    local = urllib.request.Request(f"{ui.url}/", headers={"Host": f"localhost:{ui.port}"})
    with urllib.request.urlopen(local, timeout=10) as response:
        assert response.status == 200


def test_with_two_projects_each_issue_names_its_project(page: Page, ui: BackgroundInbox) -> None:
    web = ui.storage.create_project("web")
    ui.storage.store_event(web.id, make_event(exc_type="WebOnlyError", value="x"))
    page.goto(f"{ui.url}/?q=")
    page.locator("tr.issue", has_text="WebOnlyError").locator("a.project").click()
    expect(page.locator("tr.issue .title")).to_have_text(["WebOnlyError: x"])
    expect(page.locator("input[type=search]")).to_have_value("project:web")


@settings(UNTIMED, max_examples=25)
@given(body=event_shapes())
def test_issue_pages_render_events_of_any_shape(ui: BackgroundInbox, body: dict[str, Any]) -> None:
    stored = ui.storage.store_event(1, {**body, "event_id": uuid.uuid4().hex})
    with urllib.request.urlopen(f"{ui.url}/issues/{stored.issue_id}", timeout=10) as response:
        assert response.status == 200


def test_a_long_issue_list_pages_forward_and_back_to_the_first_page(
    page: Page, tmp_path: Path
) -> None:
    with Storage(tmp_path / "inbox.sqlite3") as storage:
        storage.store_events(1, distinct_errors(PAGE_SIZE * 2 + 5))
        with BackgroundInbox(storage) as inbox:
            page.goto(inbox.url)
            expect(page.locator(".pages .total")).to_have_text(f"{PAGE_SIZE * 2 + 5} issues")
            expect(page.locator(".pages .first")).to_have_count(0)
            seen = page.locator("tr.issue .title").all_inner_texts()
            for size in (PAGE_SIZE, 5):
                page.click(".pages .next")
                expect(page.locator("tr.issue")).to_have_count(size)
                seen += page.locator("tr.issue .title").all_inner_texts()
            expect(page.locator(".pages .next")).to_have_count(0)
            page.click(".pages .first")
            expect(page.locator("tr.issue")).to_have_count(PAGE_SIZE)
    assert len(seen) == len(set(seen)) == PAGE_SIZE * 2 + 5


def test_attachments_are_listed_previewed_as_text_and_downloaded_as_sent(
    page: Page, ui: BackgroundInbox, tmp_path: Path
) -> None:
    log = f"started\n{HOSTILE}\nfailed\n".encode()
    blob = bytes(range(256)) * 4
    body = (
        envelope(make_event(exc_type="AttachedError", value="see the log"))
        + b'{"type":"attachment","filename":"run \xc3\xa9.log","content_type":"text/plain",'
        + b'"length":%d}\n%s\n' % (len(log), log)
        + b'{"type":"attachment","filename":"core.bin","length":%d}\n%s\n' % (len(blob), blob)
    )
    key = ui.storage.default_project().public_key
    assert post(envelope_url(ui), body, key=key).status == 200

    page.goto(ui.url)
    page.click("text=AttachedError: see the log")
    files = page.locator(".attachments li")
    expect(files.locator("a.download")).to_have_text(["run é.log", "core.bin"])
    expect(files.first.locator("small")).to_contain_text(f"text/plain · {len(log)} B")
    expect(files.last.locator(".preview")).to_have_count(0)
    files.first.locator("summary").click()
    expect(files.first.locator(".preview pre")).to_contain_text(HOSTILE)
    assert page.evaluate("window.__pwned") is None
    for index, (name, sent) in enumerate((("run é.log", log), ("core.bin", blob))):
        with page.expect_download() as download:
            files.nth(index).locator("a.download").click()
        saved = tmp_path / f"file{index}"
        download.value.save_as(saved)
        assert (download.value.suggested_filename, saved.read_bytes()) == (name, sent)
