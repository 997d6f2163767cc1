"""Breadcrumb storage: a bounded ring per scope, merged across scopes in insertion order.

Runs on the caller's thread. Each crumb carries a process-wide sequence number, so the crumbs
of the global, isolation and current scopes merge back into the order they were recorded in
(scopes-and-options.md §3 Note: no sort by timestamp, and the merged list is re-capped).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable
from typing import Any

__all__ = ["BreadcrumbRing", "merge_breadcrumbs"]

_sequence = itertools.count()


class BreadcrumbRing:
    """The newest ``limit`` breadcrumbs of one scope, and how many were evicted."""

    __slots__ = ("evicted", "items")

    def __init__(self, limit: int, items: Iterable[tuple[int, dict[str, Any]]] = ()) -> None:
        self.items: deque[tuple[int, dict[str, Any]]] = deque(items, maxlen=limit)
        self.evicted = 0

    def append(self, crumb: dict[str, Any]) -> None:
        items = self.items
        if len(items) == items.maxlen:  # the deque evicts the oldest (or, at 0, takes nothing)
            self.evicted += 1
            if not items.maxlen:
                return
        items.append((next(_sequence), crumb))

    def resize(self, limit: int) -> None:
        if self.items.maxlen != limit:
            kept = list(self.items)[-limit:] if limit else []
            self.evicted += len(self.items) - len(kept)
            self.items = deque(kept, maxlen=limit)

    def copy(self) -> BreadcrumbRing:
        ring = BreadcrumbRing(self.items.maxlen or 0, self.items)
        ring.evicted = self.evicted
        return ring

    def clear(self) -> None:
        self.items.clear()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self.items)


def merge_breadcrumbs(
    rings: Iterable[BreadcrumbRing], limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` crumbs of all rings, oldest first, and the total ever recorded."""
    rings = [ring for ring in rings if ring.items or ring.evicted]
    if not rings:
        return [], 0
    recorded = sum(len(ring.items) + ring.evicted for ring in rings)
    if len(rings) == 1:
        merged = list(rings[0].items)
    else:
        merged = list(heapq.merge(*(ring.items for ring in rings)))
    if len(merged) > limit:
        merged = merged[len(merged) - limit :] if limit else []
    return [dict(crumb) for _, crumb in merged], recorded
