"""The event's ``_meta`` tree (event.md §7.3): notes on values that were cut or replaced.

The tree mirrors the event's paths (list indices as strings); a note sits under the key ``""``
of the node it is about, e.g. ``{"extra": {"token": {"": {"rem": [["!config", "s"]]}}}}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["add_note", "merge_meta", "node_at"]


def node_at(meta: dict[str, Any], path: Iterable[str]) -> dict[str, Any]:
    """The node of ``meta`` at ``path``, created on the way when missing."""
    for key in path:
        child = meta.get(key)
        if not isinstance(child, dict):
            child = meta[key] = {}
        meta = child
    return meta


def add_note(meta: dict[str, Any], path: Iterable[str], note: dict[str, Any]) -> None:
    """Add ``note`` at ``path``: remarks are appended, other fields replace."""
    node = node_at(meta, path)
    current = node.get("")
    merged = dict(current) if isinstance(current, dict) else {}
    for key, value in note.items():
        if key == "rem" and isinstance(merged.get("rem"), list):
            merged["rem"] = [*merged["rem"], *value]
        else:
            merged[key] = value
    node[""] = merged


def merge_meta(into: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Merge the ``_meta`` tree ``more`` into ``into`` and return it; remarks add up."""
    for key, value in more.items():
        mine = into.get(key)
        if key == "" and isinstance(value, dict):
            add_note(into, (), value)
        elif isinstance(mine, dict) and isinstance(value, dict):
            merge_meta(mine, value)
        else:
            into[key] = value
    return into
