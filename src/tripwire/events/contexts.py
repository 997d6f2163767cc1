# Minimal stand-in until the events module lands; the real one replaces this file whole.
from __future__ import annotations

import platform
import sys

__all__ = ["default_contexts"]


def default_contexts() -> dict[str, dict[str, object]]:
    return {
        "runtime": {
            "name": platform.python_implementation(),
            "version": platform.python_version(),
            "build": sys.version,
        }
    }
