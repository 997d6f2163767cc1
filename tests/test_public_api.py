"""What ``import tripwire`` offers, and what it costs."""

from __future__ import annotations

import inspect
import subprocess
import sys

import sentry_sdk

import tripwire

PUBLIC = [
    "Client",
    "Scope",
    "Transport",
    "VERSION",
    "__version__",
    "add_attachment",
    "add_breadcrumb",
    "capture_event",
    "capture_exception",
    "capture_message",
    "flush",
    "get_client",
    "get_current_scope",
    "get_global_scope",
    "get_isolation_scope",
    "init",
    "integrations",
    "is_initialized",
    "isolation_scope",
    "last_event_id",
    "new_scope",
    "set_context",
    "set_extra",
    "set_level",
    "set_tag",
    "set_tags",
    "set_transaction_name",
    "set_user",
    "use_isolation_scope",
    "use_scope",
]


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(PUBLIC) == sorted(tripwire.__all__)
    for name in tripwire.__all__:
        assert hasattr(tripwire, name)


def test_capture_functions_share_the_official_signatures() -> None:
    for name in (
        "capture_exception",
        "capture_message",
        "capture_event",
        "add_breadcrumb",
        "set_tag",
        "set_tags",
        "set_user",
        "set_extra",
        "set_context",
        "set_level",
        "flush",
        "last_event_id",
        "is_initialized",
    ):
        ours = inspect.signature(getattr(tripwire, name))
        theirs = inspect.signature(getattr(sentry_sdk, name))
        assert [p.name for p in ours.parameters.values()] == [
            p.name for p in theirs.parameters.values()
        ], name
        assert [p.kind for p in ours.parameters.values()] == [
            p.kind for p in theirs.parameters.values()
        ], name


def test_import_loads_no_inbox_web_framework_or_http_library() -> None:
    code = (
        "import sys, tripwire; tripwire.init(); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'starlette','click','jinja2','uvicorn','urllib3','certifi','flask','django'} "
        "or m.startswith('tripwire.inbox')); print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_code_written_for_the_official_sdk_runs_with_the_import_changed() -> None:
    import tripwire as sentry_sdk_alias
    from tests.relay import assert_valid_event
    from tripwire.testing import RecordingTransport

    transport = RecordingTransport()
    sentry_sdk_alias.init(transport=transport, release="shop@1.0", traces_sample_rate=0.2)
    sentry_sdk_alias.add_breadcrumb(category="cart", message="loaded", level="info")
    with sentry_sdk_alias.new_scope() as scope:
        scope.set_tag("checkout_step", "pay")
        try:
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except OSError as exc:
                raise RuntimeError("could not charge order 17") from exc
        except RuntimeError:
            sentry_sdk_alias.capture_exception()
    sentry_sdk_alias.capture_message("cart abandoned", extra={"cart_size": 3})
    sentry_sdk_alias.flush()
    error, message = transport.events
    assert [value["type"] for value in error["exception"]["values"]] == [
        "ConnectionRefusedError",
        "RuntimeError",
    ]
    assert error["tags"]["checkout_step"] == "pay"
    assert error["breadcrumbs"]["values"][0]["message"] == "loaded"
    assert message["extra"]["cart_size"] == 3
    for event in transport.events:
        assert_valid_event(event)
