"""The ``runtime``, ``os`` and ``device`` contexts of the running process (event.md §2).

Computed on first use, once per process (never at import or ``init()``): a few ``uname`` and
``sysconf`` calls and two small files read. Runs on the caller's thread the first time an event
is built; after that each call costs one shallow copy.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import threading

__all__ = ["default_contexts"]

_OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")
_OS_RELEASE_KEYS = {
    "ID": "distribution_name",
    "VERSION_ID": "distribution_version",
    "PRETTY_NAME": "distribution_pretty_name",
}

_cached: dict[str, dict[str, object]] | None = None
_lock = threading.Lock()


def default_contexts() -> dict[str, dict[str, object]]:
    """Return fresh copies of the ``runtime``, ``os`` and ``device`` contexts.

    The values are gathered once per process; the caller may change the returned dicts.
    Never raises: a value that cannot be read is left out.
    """
    global _cached
    contexts = _cached
    if contexts is None:
        with _lock:
            if _cached is None:
                _cached = {
                    "runtime": _runtime(),
                    "os": _os(),
                    "device": _device(),
                }
            contexts = _cached
    return {name: dict(context) for name, context in contexts.items()}


def _runtime() -> dict[str, object]:
    return {
        "name": platform.python_implementation(),
        "version": ".".join(map(str, sys.version_info[:3])),
        "build": sys.version,
    }


def _os() -> dict[str, object]:
    if sys.platform == "win32":
        version = sys.getwindowsversion()
        return {
            "name": "Windows",
            "version": f"{version.major}.{version.minor}.{version.build}",
            "build": str(version.build),
        }
    try:
        uname = os.uname()
    except (AttributeError, OSError):
        return {"name": platform.system() or sys.platform}
    context: dict[str, object] = {
        "name": uname.sysname,
        "version": uname.release,
        "kernel_version": uname.release,
        "build": uname.version,
        "raw_description": f"{uname.sysname} {uname.release} {uname.version} {uname.machine}",
    }
    if sys.platform == "darwin":
        context["name"] = "macOS"
        context["version"] = platform.mac_ver()[0] or uname.release
    else:
        context.update(_os_release())
    return context


def _os_release() -> dict[str, str]:
    """The distribution fields of ``/etc/os-release`` (freedesktop.org format)."""
    for path in _OS_RELEASE_FILES:
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                text = file.read(16_384)
        except OSError:
            continue
        found: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, raw = line.partition("=")
            if sep and key.strip() in _OS_RELEASE_KEYS:
                value = raw.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                if value:
                    found[_OS_RELEASE_KEYS[key.strip()]] = value
        return found
    return {}


def _device() -> dict[str, object]:
    context: dict[str, object] = {"arch": platform.machine()}
    try:
        context["name"] = socket.gethostname()
    except OSError:
        pass
    count = os.cpu_count()
    if count:
        context["processor_count"] = count
    memory = _memory_size()
    if memory:
        context["memory_size"] = memory
    cpu = _cpu_description()
    if cpu:
        context["cpu_description"] = cpu
    return {key: value for key, value in context.items() if value}


def _memory_size() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or unknown name
        return None


def _cpu_description() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name":
                    return value.strip() or None
                if not line.strip():  # the first processor's block is enough
                    break
    except OSError:
        pass
    return None
