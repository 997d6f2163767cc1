"""Scenario 1: ``import`` + ``init()`` in a fresh interpreter.

Imports nothing but ``sys`` and ``time`` before the SDK, so that no module the SDK needs is
already loaded; the harness times the whole process against a bare one (``--sdk none``).
Arguments: ``--sdk NAME --dsn DSN``.
"""

from __future__ import annotations

import sys
import time

__all__ = ["main"]


def main(argv: list[str]) -> dict[str, object]:
    """Import and init the SDK named in ``argv``; return the in-process milliseconds."""
    options = dict(zip(argv[::2], argv[1::2], strict=True))
    name, dsn = options["--sdk"], options.get("--dsn")
    started = time.perf_counter()
    if name == "tripwire":
        import tripwire

        tripwire.init(dsn=dsn)
    elif name == "official":
        import sentry_sdk

        sentry_sdk.init(dsn=dsn)
    return {"in_process_ms": (time.perf_counter() - started) * 1000}


if __name__ == "__main__":
    from bench.scenarios.child import emit

    emit(main(sys.argv[1:]))
