from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.relay import assert_valid_event
from tripwire import active, api
from tripwire.envelope import Envelope
from tripwire.testing import Collector, RecordingTransport


@pytest.fixture(autouse=True, scope="session")
def _every_recorded_event_passes_relay() -> Iterator[None]:
    """Relay's normaliser judges every event that reaches a recording transport."""
    original = RecordingTransport.capture_envelope

    def checked(self: RecordingTransport, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            assert_valid_event(event)
        original(self, envelope)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordingTransport, "capture_envelope", checked)
        yield


@pytest.fixture(autouse=True)
def _fresh_tripwire() -> Iterator[None]:
    """Each test starts with no client and empty scopes, and fails if a guard swallowed."""
    active._global_scope = None
    active._scopes.set(None)
    api.swallowed.clear()
    yield
    client = active.get_global_scope().client
    if client is not None:
        client.close(timeout=0)
    active._global_scope = None
    swallowed = list(api.swallowed)
    api.swallowed.clear()
    assert not swallowed, f"tripwire swallowed internal errors: {swallowed!r}"


@pytest.fixture(autouse=True, scope="session")
def _spool_in_a_temporary_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The default spool folder lives under XDG_CACHE_HOME: keep the user's cache untouched."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A real HTTP collector on 127.0.0.1; Relay judges every event it accepted."""
    with Collector() as server:
        yield server
    for event in server.events:
        assert_valid_event(event)
