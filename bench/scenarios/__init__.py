"""Scenario scripts: each runs in a fresh interpreter and prints one result line."""

from __future__ import annotations

__all__: list[str] = []
