"""The atexit integration: what is queued at exit is sent, within ``shutdown_timeout``."""

from __future__ import annotations

from tests.integrations.conftest import TinyCollector, run_script
from tests.relay import assert_valid_event
from tripwire.testing import Collector, Response


def test_queued_events_are_sent_at_exit(tiny_collector: TinyCollector) -> None:
    result = run_script(
        """
        tripwire.init(transport=PostingTransport())
        for n in range(5):
            tripwire.capture_message(f"message {n}")
        """,
        tiny_collector,
    )
    assert result.returncode == 0, result.stderr
    events = tiny_collector.events
    assert sorted(e["message"] for e in events) == [f"message {n}" for n in range(5)]
    for event in events:
        assert_valid_event(event)


def test_without_atexit_queued_events_are_lost(tiny_collector: TinyCollector) -> None:
    """The control for the test above: the transport alone loses what is queued at exit."""
    tiny_collector.release.clear()  # the first request hangs, so the queue cannot drain
    result = run_script(
        """
        from tripwire.integrations.atexit import AtexitIntegration
        tripwire.init(transport=PostingTransport(), disabled_integrations=[AtexitIntegration])
        for n in range(3):
            tripwire.capture_message(f"message {n}")
        """,
        tiny_collector,
    )
    assert result.returncode == 0, result.stderr
    assert len(tiny_collector.bodies) <= 1


def test_exit_waits_at_most_shutdown_timeout_for_a_stuck_server(
    tiny_collector: TinyCollector,
) -> None:
    tiny_collector.release.clear()  # the server never answers while the process runs
    result = run_script(
        """
        tripwire.init(transport=PostingTransport(), shutdown_timeout=0.2)
        tripwire.capture_message("stuck")
        """,
        tiny_collector,
        timeout_s=20,  # a wait without bound would end in TimeoutExpired
    )
    assert result.returncode == 0, result.stderr
    assert "tripwire is attempting to send 1 pending events" in result.stderr
    assert "Waiting up to 0.2 seconds" in result.stderr


def test_a_custom_callback_replaces_the_message(tiny_collector: TinyCollector) -> None:
    tiny_collector.release.clear()
    result = run_script(
        """
        import sys
        from tripwire.integrations.atexit import AtexitIntegration
        def report(pending, timeout):
            sys.stderr.write(f"custom: {pending} left\\n")
        tripwire.init(
            transport=PostingTransport(),
            shutdown_timeout=0.2,
            integrations=[AtexitIntegration(callback=report)],
        )
        tripwire.capture_message("stuck")
        """,
        tiny_collector,
    )
    assert "custom: 1 left" in result.stderr
    assert "attempting" not in result.stderr


def test_exit_with_the_http_transport_and_a_hanging_server_is_bounded(
    collector: Collector,
) -> None:
    collector.default = Response(hang=True)
    result = run_script(
        """
        tripwire.init(os.environ["TRIPWIRE_TEST_DSN"], shutdown_timeout=0.3)
        tripwire.capture_message("never answered")
        """,
        collector,
        timeout_s=20,  # a wait without bound would end in TimeoutExpired
    )
    collector.release()
    assert result.returncode == 0, result.stderr
