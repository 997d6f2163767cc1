"""The stack every capture scenario raises from: N frames with 7 locals each.

Each frame holds an int, a second int, a 200-character string, a list of 50 ints, a dict of
20 items, an object with a custom ``__repr__`` and a 4-level nested dict.
"""

from __future__ import annotations

__all__ = ["TEXT", "BenchError", "Opaque", "descend"]

TEXT = ("The quick brown fox jumps over the lazy dog; " * 5)[:200]


class BenchError(Exception):
    """Raised at the bottom of the benchmark stack."""


class Opaque:
    """An application object whose ``__repr__`` does a little work, as real ones do."""

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.label = f"order-{ident:06d}"

    def __repr__(self) -> str:
        return f"<Opaque ident={self.ident} label={self.label!r}>"


def descend(depth: int) -> None:
    """Recurse ``depth`` frames, then raise ``BenchError``.

    Called from the frame that catches, the traceback holds ``depth + 1`` frames.
    """
    count = depth * 7
    text = TEXT
    numbers = list(range(depth, depth + 50))
    mapping = {f"field_{i}": i * depth for i in range(20)}
    thing = Opaque(depth)
    tree = {"level1": {"level2": {"level3": {"level4": depth}}}}
    if depth <= 1:
        raise BenchError(f"bottom reached with count={count} and {len(numbers)} numbers")
    descend(depth - 1)
    # Keep the locals alive and used, as in real code.
    del text, mapping, thing, tree
