"""Source lines around a frame's current line, read on the caller's thread (event.md §6).

Lines come from ``linecache`` (which asks a module's ``__loader__`` when there is no file).
Callers keep a context while ``linecache`` holds the same entry for the file, so a frame seen before costs a dictionary lookup; a file that changed and was reloaded by
``linecache.checkcache`` gets fresh context.
"""

from __future__ import annotations

import linecache
from typing import Any

from tripwire.safe_repr import without_surrogates

__all__ = ["CONTEXT_LINES", "Context", "context_of"]

CONTEXT_LINES = 5  # source lines before and after the current one
_MAX_CACHED_FILES = 256

# (pre_context, context_line, post_context); callers copy the tuples into fresh lists.
Context = tuple[tuple[str, ...], str, tuple[str, ...]]

# filename -> (linecache's list of raw lines, the lines without line ends)
_files: dict[str, tuple[list[str], list[str]]] = {}


def context_of(
    filename: str, lineno: int, module_globals: dict[str, Any], max_length: int | None
) -> tuple[tuple[Any, ...] | None, Context | None]:
    """The ``linecache`` entry the answer came from (None: do not keep the answer) and the
    context of ``lineno`` (None when the source is unknown). The answer holds while
    ``linecache.cache.get(filename)`` is that same entry: a reload makes a new one."""
    raw, lines = _source_lines(filename, module_globals)
    entry = linecache.cache.get(filename)
    # linecache's entries are (size, mtime, lines, path); lazy ones have length 1.
    current = entry if entry is not None and len(entry) == 4 and entry[2] is raw else None
    return current, _around(lines, lineno - 1, max_length)


def _is_current(filename: str, raw: list[str]) -> bool:
    entry = linecache.cache.get(filename)
    return entry is not None and len(entry) == 4 and entry[2] is raw


def _around(lines: list[str], index: int, max_length: int | None) -> Context | None:
    if not 0 <= index < len(lines):
        return None
    pre = lines[max(0, index - CONTEXT_LINES) : index]
    line = lines[index]
    post = lines[index + 1 : index + 1 + CONTEXT_LINES]
    if max_length is not None:
        pre = [_cut(text, max_length) for text in pre]
        line = _cut(line, max_length)
        post = [_cut(text, max_length) for text in post]
    return tuple(pre), line, tuple(post)


def _cut(text: str, max_length: int) -> str:
    return text if len(text) <= max_length else text[: max_length - 3] + "..."


def _source_lines(filename: str, module_globals: dict[str, Any]) -> tuple[list[str], list[str]]:
    """linecache's lines of ``filename`` and the same lines without line ends."""
    cached = _files.get(filename)
    if cached is not None and _is_current(filename, cached[0]):
        return cached
    try:
        raw = linecache.getlines(filename, module_globals)
    except Exception:  # a broken __loader__.get_source
        return [], []
    if cached is not None and cached[0] is raw:
        return cached
    lines = [without_surrogates(line.rstrip("\r\n")) for line in raw]
    if len(_files) >= _MAX_CACHED_FILES:
        _files.clear()
    _files[filename] = (raw, lines)
    return raw, lines
