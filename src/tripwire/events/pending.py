"""Reprs of frame locals taken off the caller's thread, from snapshots that cannot change.

A local that is a flat builtin container of numbers or short strings (a list of ids, a dict
of counters) is the commonest value a frame holds, and its repr the costliest part of a
capture. Its snapshot is cheap: a copy of the container, whose items are immutable. So
``safe_reprs(..., later=True)`` keeps such a copy in a ``PendingRepr`` and the repr is made on
the transport's worker (``finish_reprs``), by the same ``safe_reprs`` code on an equal value:
the text is the one the caller would have made.

Nothing outside tripwire may see a ``PendingRepr``: the caller defers only when no callback
will read the event before the worker does (``reprs_may_wait``), and the pipeline finishes
every pending repr first when one will (an ``error_sampler``, an event or error processor
that is not known to ignore frames, a ``scope=`` with processors). A serializer that checks
frames itself finishes them first too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tripwire import active
from tripwire.events.snapshot import PendingRepr, TextFilter
from tripwire.events.stacktraces import frame_lists, may_hold_frames
from tripwire.safe_repr import safe_reprs

if TYPE_CHECKING:
    from tripwire.options import Options
    from tripwire.scope import Scope

__all__ = ["FRAME_BLIND_MODULES", "finish_reprs", "may_hold_frames", "reprs_may_wait"]

# Modules whose event processors never read the text of frame variables, or edit it only
# through ``PendingRepr.then`` (the request integrations' secret filter): events they see may
# hold pending reprs. Without the request modules here, every capture inside a web request
# would take all its reprs on the caller's thread.
FRAME_BLIND_MODULES = frozenset(
    {
        "tripwire.integrations.argv",
        "tripwire.integrations.asgi",
        "tripwire.integrations.celery",
        "tripwire.integrations.dedupe",
        "tripwire.integrations.wsgi",
    }
)


def reprs_may_wait(options: Options, layers: Iterable[Scope]) -> bool:
    """True when no callback outside tripwire reads a capture's event before the worker:
    no ``error_sampler``, and every event and error processor of ``layers`` and every global
    one ignores frames. Also False under ``max_value_length`` or ``custom_repr`` (the
    serializer, or the user's function, must see every repr on the caller's thread), and
    under ``before_send``: every step then runs on the caller's thread, so a repr left for
    later would cost a snapshot and then the repr, both on the caller."""
    if (
        options.before_send is not None
        or options.error_sampler is not None
        or options.max_value_length is not None
        or options.custom_repr is not None
    ):
        return False
    try:
        for layer in layers:
            if layer._error_processors:
                return False
            for processor in layer._event_processors:
                if processor.__module__ not in FRAME_BLIND_MODULES:
                    return False
        for processor in active.global_event_processors():
            if processor.__module__ not in FRAME_BLIND_MODULES:
                return False
    except Exception:  # no __module__, or a hostile one: take every repr now
        return False
    return True


def finish_reprs(event: dict[str, Any]) -> None:
    """Replace every ``PendingRepr`` in the frame ``vars`` of ``event`` by its text, in place.

    Never raises; cheap when there is none (one type check per local).
    """
    for frames in frame_lists(event):
        for frame in frames:
            variables = frame.get("vars") if type(frame) is dict else None
            if type(variables) is not dict:
                continue
            pending = [
                (name, value) for name, value in variables.items() if type(value) is PendingRepr
            ]
            if not pending:
                continue
            # One safe_reprs call per frame: its locals share one max_length.
            by_length: dict[int, list[tuple[str, object]]] = {}
            for name, value in pending:
                by_length.setdefault(value.max_length, []).append((name, value.value))
            for max_length, pairs in by_length.items():
                variables.update(safe_reprs(pairs, max_length))  # never raises
            for name, value in pending:
                text_filter = value.text_filter
                if text_filter is not None:
                    variables[name] = _filtered(variables[name], text_filter)


def _filtered(text: object, text_filter: TextFilter) -> object:
    try:
        return text_filter(text) if isinstance(text, str) else text
    except Exception:  # a filter hides something: never keep the unfiltered text
        return "<repr filtered out>"
