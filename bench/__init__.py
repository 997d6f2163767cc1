"""tripwire's benchmark suite: ``make bench`` (bench/run.py), never part of ``make test``."""

from __future__ import annotations

__all__: list[str] = []
