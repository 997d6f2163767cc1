"""The package version, in one place (the SDK name and User-Agent use it)."""

from __future__ import annotations

__all__ = ["SDK_NAME", "VERSION"]

VERSION = "0.1.0"
SDK_NAME = "tripwire.python"
