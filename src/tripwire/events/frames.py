"""Snapshots of stack frames, taken on the caller's thread at capture time (event.md §6).

A snapshot copies what would change (line numbers, source lines, a bounded repr of locals) into
plain dicts and keeps no frame object. What depends only on the code object (paths, module,
function name, in_app) is computed once per code object and cached, and so are the line number
and source context of each place a traceback passed through: repeated captures are cheap. Huge
stacks keep their head and tail: a ``RecursionError`` thousands of frames deep is captured in
bounded time, and the stack trace says which frames were left out.
"""

from __future__ import annotations

import linecache
import os
from inspect import CO_OPTIMIZED
from itertools import islice
from types import CodeType, FrameType, ModuleType, TracebackType
from typing import Any

from tripwire import active
from tripwire.events.in_app import is_in_app, mark_in_app, rules_for
from tripwire.events.pending import reprs_may_wait
from tripwire.events.source import CONTEXT_LINES, Context, context_of
from tripwire.options import Options
from tripwire.safe_repr import DEFAULT_MAX_LENGTH, safe_repr, safe_reprs, without_surrogates

__all__ = [
    "CONTEXT_LINES",
    "MAX_FRAMES",
    "MAX_LOCALS",
    "FrameList",
    "frames_from_stack",
    "frames_from_traceback",
    "is_in_app",
    "mark_in_app",
    "stacktrace_from_stack",
    "stacktrace_from_traceback",
]

MAX_LOCALS = 50  # locals per frame; a module frame's "locals" are all its globals
MAX_FRAMES = 1000  # head + tail kept when max_stack_frames is None (event.md §6: 500 + 500)
_MAX_CACHED_CODES = 4096
_HIDE_NAMES = ("__traceback_hide__", "__tracebackhide__")

Frame = dict[str, Any]


class FrameList(list[Frame]):
    """The frames of one stack trace as built here: JSON-safe already, within the databag
    limits when ``max_value_length`` is unset (at most ``MAX_LOCALS`` vars, plain ``str``,
    ``int`` and ``bool`` values), except for ``vars`` values that are a ``PendingRepr`` until
    the pipeline finishes them (events/pending.py). The serializer takes such a list without
    a walk when no code outside tripwire could have changed it (``frames_untouched``).
    """

    __slots__ = ()


# A frame, and the traceback entry it came from (its line is where the exception passed);
# the line number is computed only for the frames kept, as it costs a line-table scan.
_Entry = tuple[FrameType, TracebackType | None]
_MAX_CACHED_SPOTS = 32  # per code object: the places a traceback passed through it


class _Code:
    """What every frame of one code object shares, computed once and cached by the code's id.

    ``spots`` maps a traceback's ``tb_lasti`` to its line number and source context, kept while
    ``linecache`` holds the same entry for the file.
    """

    __slots__ = (
        "abs_path", "code", "filename", "function", "in_app", "is_optimized", "is_tripwire",
        "may_hide", "module", "path", "spots",
    )  # fmt: skip

    def __init__(self, code: CodeType, module: str | None, rules: _Rules) -> None:
        raw = without_surrogates(code.co_filename)
        # "<string>", "<stdin>", "<frozen os>": not paths, so abspath would invent a cwd file.
        abs_path = raw if raw.startswith("<") and raw.endswith(">") else os.path.abspath(raw)
        names = (*code.co_varnames, *code.co_cellvars, *code.co_freevars)
        self.code = code
        self.path = code.co_filename  # linecache's key
        self.abs_path = abs_path
        self.filename = _relative_filename(abs_path, module)
        self.function = without_surrogates(getattr(code, "co_qualname", code.co_name))
        # A str subclass as __name__ is shown as the plain string (what the serializer made).
        self.module = None if module is None else str.__str__(module)
        self.is_tripwire = module is not None and (
            module == "tripwire" or module.startswith("tripwire.")
        )
        self.is_optimized = bool(code.co_flags & CO_OPTIMIZED)
        self.may_hide = not self.is_optimized or any(name in names for name in _HIDE_NAMES)
        self.in_app = rules.in_app.decide(module, None if abs_path.startswith("<") else abs_path)
        self.spots: dict[int, tuple[int | None, tuple[Any, ...] | None, Context | None]] = {}


class _Rules:
    """The in_app rules of one ``Options`` plus the per-code cache built under them."""

    __slots__ = ("codes", "in_app", "options")

    def __init__(self, options: Options) -> None:
        self.options = options
        self.in_app = rules_for(options)
        self.codes: dict[int, _Code] = {}


_current_rules: _Rules | None = None


def _rules_for(options: Options) -> _Rules:
    global _current_rules
    rules = _current_rules
    if rules is None or rules.options is not options:
        rules = _current_rules = _Rules(options)
    return rules


def frames_from_traceback(tb: TracebackType | None, options: Options) -> list[Frame]:
    """Snapshot the frames of ``tb`` (oldest first, walking ``tb_next``). Keeps no frame."""
    stacktrace = stacktrace_from_traceback(tb, options)
    return stacktrace["frames"] if stacktrace else []


def frames_from_stack(frame: FrameType | None, options: Options) -> list[Frame]:
    """Snapshot the call stack from ``frame`` outwards, oldest first. Keeps no frame."""
    stacktrace = stacktrace_from_stack(frame, options)
    return stacktrace["frames"] if stacktrace else []


def stacktrace_from_traceback(
    tb: TracebackType | None, options: Options, full_stack: bool = False
) -> dict[str, Any] | None:
    """Build ``{"frames": [...]}`` for ``tb``, or None when no frame is left to show.

    ``full_stack`` prepends the callers of the frame that caught the exception (the
    ``add_full_stack`` option). A stack past ``max_stack_frames`` keeps its head and tail and
    gets ``frames_omitted: [start, end]``, the indices of the left-out frames.
    """
    if not full_stack and _length(tb) <= (options.max_stack_frames or MAX_FRAMES):
        return _whole_traceback(tb, options)  # the common case: no list of entries first
    entries: list[_Entry] = []
    if full_stack and tb is not None:
        entries = _stack_entries(tb.tb_frame.f_back)
    while tb is not None:
        entries.append((tb.tb_frame, tb))
        tb = tb.tb_next
    return _stacktrace(entries, options, options.include_source_context)


def stacktrace_from_stack(
    frame: FrameType | None, options: Options, include_source_context: bool | None = None
) -> dict[str, Any] | None:
    """Build ``{"frames": [...]}`` for the stack from ``frame`` outwards (oldest first).

    For ``attach_stacktrace`` and thread stacks; ``include_source_context`` defaults to the
    option (the official SDK ignores the option here, event.md §6.2 Note).
    """
    source = (
        options.include_source_context if include_source_context is None else include_source_context
    )
    return _stacktrace(_stack_entries(frame), options, source)


def _stack_entries(frame: FrameType | None) -> list[_Entry]:
    entries: list[_Entry] = []
    while frame is not None:
        entries.append((frame, None))
        frame = frame.f_back
    entries.reverse()
    return entries


def _length(tb: TracebackType | None) -> int:
    length = 0
    while tb is not None:
        length, tb = length + 1, tb.tb_next
    return length


def _whole_traceback(tb: TracebackType | None, options: Options) -> dict[str, Any] | None:
    rules, source, max_repr, later = (
        _rules_for(options),
        options.include_source_context,
        _max_repr(options),
        _reprs_may_wait(options),
    )
    frames = FrameList()
    while tb is not None:
        frame = tb.tb_frame
        code = _code_of(frame, rules)
        if not code.is_tripwire and not (code.may_hide and _hides(frame)):
            frames.append(_snapshot(frame, tb, code, options, source, max_repr, later))
        tb = tb.tb_next
    return {"frames": frames} if frames else None


def _reprs_may_wait(options: Options) -> bool:
    """Whether reprs of locals may be finished on the worker (events/pending.py), judged by
    the active scopes; the pipeline finishes them at once if the capture's own do not agree."""
    if not options.include_local_variables:
        return False
    layers = (active.get_global_scope(), active.get_isolation_scope(), active.get_current_scope())
    return reprs_may_wait(options, layers)


def _max_repr(options: Options) -> int:
    if options.max_value_length is None:
        return DEFAULT_MAX_LENGTH
    return min(DEFAULT_MAX_LENGTH, options.max_value_length)


def _stacktrace(entries: list[_Entry], options: Options, source: bool) -> dict[str, Any] | None:
    rules = _rules_for(options)
    limit = options.max_stack_frames or MAX_FRAMES
    kept: list[tuple[FrameType, TracebackType | None, _Code]] = []
    if len(entries) <= limit:  # the common case: every frame that is not hidden
        for frame, tb in entries:
            code = _code_of(frame, rules)
            if not code.is_tripwire and not (code.may_hide and _hides(frame)):
                kept.append((frame, tb, code))
        head_length, omitted = len(kept), 0
    else:
        head_length, omitted = _head_and_tail(entries, limit, rules, kept)
    if not kept:
        return None
    max_repr, later = _max_repr(options), _reprs_may_wait(options)
    frames = FrameList(
        [_snapshot(frame, tb, code, options, source, max_repr, later) for frame, tb, code in kept]
    )
    stacktrace: dict[str, Any] = {"frames": frames}
    if omitted:
        stacktrace["frames_omitted"] = [head_length, head_length + omitted]
    return stacktrace


def _head_and_tail(
    entries: list[_Entry],
    limit: int,
    rules: _Rules,
    kept: list[tuple[FrameType, TracebackType | None, _Code]],
) -> tuple[int, int]:
    """Fill ``kept`` with the first and last frames shown; return the head's length and how
    many entries were left out between head and tail."""
    head_size = limit // 2
    index = 0
    while index < len(entries) and len(kept) < head_size:
        frame, tb = entries[index]
        index += 1
        code = _code_of(frame, rules)
        if not code.is_tripwire and not (code.may_hide and _hides(frame)):
            kept.append((frame, tb, code))
    head_length = len(kept)
    tail: list[tuple[FrameType, TracebackType | None, _Code]] = []
    end = len(entries)
    while end > index and len(tail) < limit - head_size:
        end -= 1
        frame, tb = entries[end]
        code = _code_of(frame, rules)
        if not code.is_tripwire and not (code.may_hide and _hides(frame)):
            tail.append((frame, tb, code))
    tail.reverse()
    kept.extend(tail)
    return head_length, end - index  # not inspected one by one, so a few may be hidden frames


def _code_of(frame: FrameType, rules: _Rules) -> _Code:
    code = frame.f_code
    module = frame.f_globals.get("__name__")
    cached = rules.codes.get(id(code))
    if cached is not None and cached.code is code and cached.module == module:
        return cached
    info = _Code(code, module if isinstance(module, str) else None, rules)
    if len(rules.codes) >= _MAX_CACHED_CODES:
        rules.codes.clear()
    rules.codes[id(code)] = info
    return info


def _relative_filename(abs_path: str, module: str | None) -> str:
    """Path relative to the import root: ``urllib3/util/retry.py`` (event.md §6)."""
    if not module or abs_path.startswith("<"):
        return abs_path
    path = abs_path[:-1] if abs_path.endswith(".pyc") else abs_path
    parts = module.split(".")
    segments = path.split(os.sep)
    stem = segments[-1].rsplit(".", 1)[0]
    if len(parts) == 1:
        return os.sep.join(segments[-2:]) if stem == "__init__" else segments[-1]
    count = len(parts) + (stem == "__init__")
    tail = segments[-count:]
    names_module = (stem == "__init__" and tail[-2] == parts[-1]) or stem == parts[-1]
    if len(segments) > count and tail[: len(parts) - 1] == parts[:-1] and names_module:
        return os.sep.join(tail)
    return abs_path


def _hides(frame: FrameType) -> bool:
    try:
        scope = frame.f_locals
        return any(bool(scope.get(name)) for name in _HIDE_NAMES)
    except Exception:  # a hostile __bool__ on the marker: show the frame
        return False


def _spot(
    frame: FrameType, tb: TracebackType | None, code: _Code, options: Options, source: bool
) -> tuple[int | None, Context | None]:
    """The frame's line number and, when ``source``, the lines around it."""
    if tb is None:  # a live frame: its line moves on, and a tracer may set f_lineno
        lineno = frame.f_lineno
        if not source or lineno is None:
            return lineno, None
        return lineno, context_of(code.path, lineno, frame.f_globals, options.max_value_length)[1]
    spot = code.spots.get(tb.tb_lasti)
    # Kept while linecache holds the entry the context came from (see source.context_of).
    if spot is not None and (spot[1] is None or linecache.cache.get(code.path) is spot[1]):
        return spot[0], spot[2]
    lineno = tb.tb_lineno  # a scan of the code's line table
    lines, context = None, None
    if lineno is not None and source:
        lines, context = context_of(code.path, lineno, frame.f_globals, options.max_value_length)
    if lines is not None or not source or lineno is None:  # an unknown source is asked again
        if len(code.spots) >= _MAX_CACHED_SPOTS:
            code.spots.clear()
        code.spots[tb.tb_lasti] = (lineno, lines, context)
    return lineno, context


def _snapshot(
    frame: FrameType,
    tb: TracebackType | None,
    code: _Code,
    options: Options,
    source: bool,
    max_repr: int,
    later: bool = False,
) -> Frame:
    snapshot: Frame = {
        "filename": code.filename,
        "abs_path": code.abs_path,
        "function": code.function,
    }
    if code.module is not None:
        snapshot["module"] = code.module
    lineno, context = _spot(frame, tb, code, options, source)
    if lineno is not None:
        snapshot["lineno"] = lineno
        if context is not None:
            snapshot["pre_context"] = list(context[0])
            snapshot["context_line"] = context[1]
            snapshot["post_context"] = list(context[2])
    if options.include_local_variables:
        snapshot["vars"] = _locals(frame, code.is_optimized, max_repr, options, later)
    if code.in_app is not None:
        snapshot["in_app"] = code.in_app
    return snapshot


def _locals(
    frame: FrameType, is_optimized: bool, max_repr: int, options: Options, later: bool
) -> dict[str, Any]:
    try:
        scope = frame.f_locals
    except Exception:
        return {}
    custom = options.custom_repr
    if is_optimized:  # function locals: names are always str
        return safe_reprs(islice(scope.items(), MAX_LOCALS), max_repr, custom, later)
    # Module and class bodies: their locals are globals; leave out dunders and imports.
    return {
        str(name): safe_repr(value, max_repr, custom)
        for name, value in islice(
            (
                (name, value)
                for name, value in scope.items()
                if not (type(name) is str and name.startswith("__"))
                and not isinstance(value, ModuleType)
            ),
            MAX_LOCALS,
        )
    }
