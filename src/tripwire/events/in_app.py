"""The in_app decision of event.md §6.1, for frames snapshotted here and frames in any event.

Runs on the caller's thread. The rules of one ``Options`` are built once; each answer per
(module, abs_path) is kept, as the same places recur in every event.
"""

from __future__ import annotations

import os

from tripwire.events.stacktraces import frame_lists, may_hold_frames
from tripwire.options import Options
from tripwire.types import Event

__all__ = ["InAppRules", "is_in_app", "mark_in_app", "rules_for"]

_VENDORED = ("/site-packages/", "/dist-packages/", "\\site-packages\\", "\\dist-packages\\")
_MAX_CACHED_DECISIONS = 4096
_UNKNOWN = object()


class InAppRules:
    """Rules 2-7 of event.md §6.1 under one ``Options``, with the answers given so far."""

    __slots__ = ("decisions", "exclude", "include", "options", "root")

    def __init__(self, options: Options) -> None:
        self.options = options
        self.include = tuple(options.in_app_include)
        self.exclude = tuple(options.in_app_exclude)
        root = options.project_root
        # event.md §6.1 Note: "/srv/app" must not claim "/srv/application/x.py".
        self.root = os.path.abspath(root).rstrip(os.sep) + os.sep if root else ""
        self.decisions: dict[tuple[str | None, str | None], bool | None] = {}

    def decide(self, module: str | None, abs_path: str | None) -> bool | None:
        """True, False, or None when the rules leave the frame undecided."""
        key = (module, abs_path)
        decision = self.decisions.get(key, _UNKNOWN)
        if decision is _UNKNOWN:
            decision = self._decide(module, abs_path)
            if len(self.decisions) >= _MAX_CACHED_DECISIONS:
                self.decisions.clear()
            self.decisions[key] = decision
        return decision  # type: ignore[return-value]

    def _decide(self, module: str | None, abs_path: str | None) -> bool | None:
        if module:
            if _names_module(self.include, module):
                return True
            if _names_module(self.exclude, module):
                return False
        if not abs_path:
            return None
        if any(marker in abs_path for marker in _VENDORED):
            return False
        if self.root and abs_path.startswith(self.root):
            return True
        return None


_current: InAppRules | None = None


def rules_for(options: Options) -> InAppRules:
    """The rules of ``options``, built once while the same options are in use."""
    global _current
    rules = _current
    if rules is None or rules.options is not options:
        rules = _current = InAppRules(options)
    return rules


def _names_module(prefixes: tuple[str, ...], module: str) -> bool:
    return any(module == item or module.startswith(item + ".") for item in prefixes)


def is_in_app(module: str | None, abs_path: str | None, options: Options) -> bool | None:
    """Rules 2-7 of event.md §6.1 for one frame: True, False, or None when undecided."""
    return rules_for(options).decide(module, abs_path)


def mark_in_app(event: Event, options: Options) -> None:
    """Set ``in_app`` on every frame of ``event`` that lacks it (event.md §6.1).

    Covers ``exception.values[*].stacktrace``, ``threads.values[*].stacktrace`` and a top-level
    ``stacktrace``; a frame's existing ``in_app`` is kept. Never raises on malformed events.
    """
    if not may_hold_frames(event):
        return  # a message: no frames
    rules = rules_for(options)
    for frames in frame_lists(event):
        for frame in frames:
            if not isinstance(frame, dict) or frame.get("in_app") is not None:
                continue
            module = frame.get("module")
            abs_path = frame.get("abs_path")
            decision = rules.decide(
                module if isinstance(module, str) else None,
                abs_path if isinstance(abs_path, str) else None,
            )
            if decision is not None:
                frame["in_app"] = decision
