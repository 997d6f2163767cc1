"""The client: what to send. ``PIPELINE`` is the ordered list of capture steps.

The caller's thread runs the steps up to ``serialize``, which snapshots the event into plain
data it owns. The steps after it run on the transport's worker along with encoding,
compression and delivery, unless ``before_send`` is set: its answer decides what the capture
returns, so then every step runs on the caller's thread.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

from tripwire import active, drops
from tripwire._version import SDK_NAME, VERSION
from tripwire.active import capture_layers
from tripwire.envelope import Envelope, Item
from tripwire.integrations import Integration, setup_integrations
from tripwire.integrations.modules import encode_event_with_modules
from tripwire.options import Options, OptionsView
from tripwire.pipeline import (
    Capture,
    Drop,
    add_process_data,
    apply_scope,
    attach_stacktrace,
    drop_ignored_errors,
    fill_defaults,
    finish_reprs,
    finish_reprs_now,
    mark_in_app,
    run_before_send,
    run_error_processors,
    run_event_processors,
    sample,
    scrub,
    serialize,
)
from tripwire.scope import Scope
from tripwire.scrubber import EventScrubber
from tripwire.transport.base import CallableTransport, Transport
from tripwire.types import Event, Hint

__all__ = ["NON_RECORDING_CLIENT", "PIPELINE", "Client", "NonRecordingClient", "run_pipeline"]

logger = logging.getLogger(__name__)

Step = Callable[[Event, Capture], Event | Drop]

PIPELINE: tuple[Step, ...] = (
    drop_ignored_errors,
    finish_reprs_now,  # before the first callback that may read the event (events/pending.py)
    sample,  # early, so a sampled-out event costs no merge and no callbacks
    apply_scope,
    run_error_processors,
    run_event_processors,
    attach_stacktrace,
    fill_defaults,
    mark_in_app,
    serialize,
    finish_reprs,  # the reprs of locals the caller left for the worker
    scrub,
    add_process_data,  # after serialize and scrub: built by us, nothing to convert or hide
    run_before_send,
)

# Where the steps that may run on the worker begin: after serialize, the event holds only
# plain data that nothing else references, so reading it later from another thread is safe.
WORKER_STEPS_FROM = PIPELINE.index(serialize) + 1

# A capture started while the pipeline runs (a processor that logs an error, say) is dropped.
_in_pipeline: ContextVar[bool] = ContextVar("tripwire_in_pipeline", default=False)


def run_pipeline(
    event: Event, capture: Capture, start: int = 0, stop: int | None = None
) -> Event | None:
    """Run the steps ``PIPELINE[start:stop]``; a ``Drop`` ends the capture and is counted."""
    for step in PIPELINE[start:stop]:
        outcome = step(event, capture)
        if isinstance(outcome, Drop):
            capture.client.drops.count(outcome.reason, "error")
            return None
        event = outcome
    return event


def _make_transport(options: Options, counter: drops.DropCounter) -> Transport | None:
    given = options.transport
    if isinstance(given, Transport):
        return given
    if isinstance(given, type) and issubclass(given, Transport):
        return given(options) if options.dsn is not None else None
    if callable(given):
        return CallableTransport(given)
    if options.dsn is None and not options.spotlight:
        return None
    from tripwire.transport import make_transport

    made: Transport | None = make_transport(options, counter)
    return made


class EventScrubberLike(Protocol):
    def scrub_event(self, event: Event) -> None: ...


def _make_scrubber(options: Options) -> EventScrubberLike:
    given = options.event_scrubber
    if given is not None and callable(getattr(given, "scrub_event", None)):
        return given  # type: ignore[return-value]
    return EventScrubber(send_default_pii=options.send_default_pii)


class Client:
    """Turns captures into envelopes for its transport. Made by ``init()``."""

    def __init__(self, options: Options) -> None:
        self.config = options
        self.options = OptionsView(options)
        self.drops = drops.DropCounter(options.on_drop)
        self.transport = _make_transport(options, self.drops)
        self.integrations: dict[str, Integration] = setup_integrations(
            options.integrations,
            with_defaults=options.default_integrations,
            with_auto_enabling=options.auto_enabling_integrations,
            disabled=options.disabled_integrations,
        )
        self.sdk_info: dict[str, object] = {
            "name": SDK_NAME,
            "version": VERSION,
            "packages": [{"name": "pypi:tripwire", "version": VERSION}],
            "integrations": sorted(self.integrations),
        }
        self.scrubber: EventScrubberLike = _make_scrubber(options)
        self._max_event_bytes = options.max_event_bytes
        # The worker's steps need no hint or scopes: one Capture serves every event.
        self._worker_capture = Capture({}, (), self, options)
        self._on_caller_until = None if options.before_send is not None else WORKER_STEPS_FROM

    @property
    def dsn(self) -> str | None:
        return None if self.config.dsn is None else str(self.config.dsn)

    def is_active(self) -> bool:
        """True when events can go somewhere (a DSN, Spotlight or a custom transport)."""
        return self.transport is not None

    def get_integration(self, name_or_class: str | type[Integration]) -> Integration | None:
        name = name_or_class if isinstance(name_or_class, str) else name_or_class.identifier
        return self.integrations.get(name)

    @staticmethod
    def new_event_id() -> str:
        # Not os.urandom: it releases the GIL, and while the worker encodes, getting it back
        # costs the caller up to the 5 ms switch interval. The random module's generator is
        # reseeded in forked children (CPython registers that at fork), so ids stay unique.
        return f"{random.getrandbits(128):032x}"

    def capture_event(
        self, event: Event, hint: Hint | None = None, scope: Scope | None = None
    ) -> str | None:
        """Send ``event`` merged with the active scopes (and ``scope``). Returns its id or None."""
        return self.capture(event, hint, capture_layers(None, scope, {}))

    def capture(self, event: Event, hint: Hint | None, layers: tuple[Scope, ...]) -> str | None:
        if self.transport is None or _in_pipeline.get():
            return None
        token = _in_pipeline.set(True)
        try:
            capture = Capture(dict(hint or {}), layers, self, self.config)
            until = self._on_caller_until
            snapshot = run_pipeline(event, capture, stop=until)
        finally:
            _in_pipeline.reset(token)
        if snapshot is None:
            return None
        event_id = str(snapshot.get("event_id"))
        envelope = Envelope({"event_id": event_id})
        finish = None if until is None else self._finish_event
        envelope.add_item(Item("event", json=snapshot, encode=self._encode_event, finish=finish))
        for attachment in capture.hint.get("attachments") or ():
            item = _attachment_item(attachment)
            if item is not None:
                envelope.add_item(item)
        self.transport.capture_envelope(envelope)
        layers[1]._set_last_event_id(event_id)
        return event_id

    def _finish_event(self, event: Event) -> Event:
        """The steps after the snapshot (called on the worker, or wherever the item is read)."""
        finished = run_pipeline(event, self._worker_capture, start=WORKER_STEPS_FROM)
        if finished is None:  # no step after the snapshot drops without before_send
            raise ValueError("the event was dropped after its snapshot")
        return finished

    def _encode_event(self, event: object) -> bytes:
        """The event item's bytes, within ``max_event_bytes`` (called on the worker)."""
        assert isinstance(event, dict)
        return encode_event_with_modules(event, self._max_event_bytes)

    def _record_breadcrumb(
        self,
        scope: Scope,
        crumb: dict[str, Any] | None,
        hint: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> None:
        if self.transport is None:
            return
        # kwargs is a fresh dict already: the common call copies nothing.
        record = kwargs if not crumb else {**crumb, **kwargs}
        if not record:
            return
        record.setdefault("timestamp", time.time())
        record.setdefault("type", "default")
        before = self.config.before_breadcrumb
        if before is not None:
            try:
                result = before(record, hint or {})
            except Exception:
                logger.exception("before_breadcrumb raised; the breadcrumb is dropped")
                return
            if result is None:
                return
            if not isinstance(result, dict):
                logger.warning("before_breadcrumb returned %s, not a dict", type(result))
                return
            record = result
        scope._append_breadcrumb(record, self.config.max_breadcrumbs)

    def flush(
        self, timeout: float | None = None, callback: Callable[[int, float], None] | None = None
    ) -> bool:
        """Wait up to ``timeout`` (default ``shutdown_timeout``) seconds; True when drained."""
        if self.transport is None:
            return True
        wait = self.config.shutdown_timeout if timeout is None else timeout
        return bool(self.transport.flush(wait, callback))

    def close(
        self, timeout: float | None = None, callback: Callable[[int, float], None] | None = None
    ) -> bool:
        """Flush, then stop the transport. True when nothing was left behind."""
        transport, self.transport = self.transport, None
        if transport is None:
            return True
        wait = self.config.shutdown_timeout if timeout is None else timeout
        if callback is not None:
            # The callback hears of what is still pending, as flush() tells it.
            drained = bool(transport.flush(wait, callback))
            return bool(transport.close(0.0)) and drained
        return bool(transport.close(wait))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attachment_item(attachment: dict[str, Any]) -> Item | None:
    data = attachment.get("bytes")
    if callable(data):
        data = data()
    if data is None and attachment.get("path"):
        try:
            with open(attachment["path"], "rb") as handle:
                data = handle.read()
        except OSError as exc:
            logger.warning("attachment %s not read: %s", attachment["path"], exc)
            return None
    if not isinstance(data, (bytes, bytearray)):
        return None
    return Item.attachment(bytes(data), attachment["filename"], attachment.get("content_type"))


class NonRecordingClient:
    """The client before ``init()``: every method does nothing and returns the empty answer."""

    config = Options()
    options = OptionsView(config)
    transport = None
    dsn = None

    def __init__(self) -> None:
        self.drops = drops.DropCounter()
        self.integrations: dict[str, Integration] = {}

    def is_active(self) -> bool:
        return False

    def get_integration(self, name_or_class: str | type[Integration]) -> Integration | None:
        return None

    def capture_event(
        self, event: Event, hint: Hint | None = None, scope: Scope | None = None
    ) -> str | None:
        return None

    def capture(self, event: Event, hint: Hint | None, layers: tuple[Scope, ...]) -> str | None:
        return None

    def _record_breadcrumb(self, *args: object) -> None:
        return None

    def flush(self, timeout: float | None = None, callback: object = None) -> bool:
        return True

    def close(self, timeout: float | None = None, callback: object = None) -> bool:
        return True


NON_RECORDING_CLIENT = NonRecordingClient()
active._fallback_client.append(NON_RECORDING_CLIENT)
