"""Integrations: the hooks that turn failures elsewhere into events.

Each integration is one module named as in sentry_sdk (``tripwire.integrations.logging``);
``setup_integrations`` picks the defaults, the auto-enabling ones whose framework is already
imported, and the user's, and runs each class's ``setup_once`` once per process.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from logging import getLogger
from threading import Lock
from typing import ClassVar

# No `import logging`/`import threading` here: those names belong to the submodules
# (`from tripwire.integrations import logging` must never give the standard library's).

__all__ = ["DidNotEnable", "Integration", "setup_integrations"]

logger = getLogger(__name__)

# Module path, class name: installed by default (scopes-and-options.md §7), sentry_sdk's
# list. AsyncioIntegration and UnraisablehookIntegration are opt-in there and here.
DEFAULT_INTEGRATIONS: tuple[tuple[str, str], ...] = (
    ("tripwire.integrations.argv", "ArgvIntegration"),
    ("tripwire.integrations.atexit", "AtexitIntegration"),
    ("tripwire.integrations.dedupe", "DedupeIntegration"),
    ("tripwire.integrations.excepthook", "ExcepthookIntegration"),
    ("tripwire.integrations.logging", "LoggingIntegration"),
    ("tripwire.integrations.modules", "ModulesIntegration"),
    ("tripwire.integrations.stdlib", "StdlibIntegration"),
    ("tripwire.integrations.threading", "ThreadingIntegration"),
)

# Module path, class name, the framework module that must already be imported.
AUTO_ENABLING_INTEGRATIONS: tuple[tuple[str, str, str], ...] = (
    ("tripwire.integrations.django", "DjangoIntegration", "django"),
    ("tripwire.integrations.flask", "FlaskIntegration", "flask"),
    ("tripwire.integrations.starlette", "StarletteIntegration", "starlette"),
    ("tripwire.integrations.fastapi", "FastApiIntegration", "fastapi"),
    ("tripwire.integrations.celery", "CeleryIntegration", "celery"),
)

_installed: set[str] = set()
_install_lock = Lock()


class DidNotEnable(Exception):
    """The integration cannot run here (its framework is missing or too old)."""


class Integration:
    """Base class: ``identifier`` names it in ``sdk.integrations``; ``setup_once`` patches."""

    identifier: ClassVar[str] = ""

    @staticmethod
    def setup_once() -> None:
        """Install hooks; runs once per process, whatever number of ``init()`` calls."""


def _load(module: str, name: str) -> type[Integration] | None:
    try:
        found: type[Integration] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, DidNotEnable) as exc:
        logger.debug("integration %s.%s not available: %s", module, name, exc)
        return None
    return found


def _is_disabled(integration: Integration, disabled: Iterable[object]) -> bool:
    for item in disabled:
        if isinstance(item, type) and isinstance(integration, item):
            return True
        if isinstance(item, Integration) and item.identifier == integration.identifier:
            return True
    return False


def setup_integrations(
    integrations: Iterable[object],
    *,
    with_defaults: bool = True,
    with_auto_enabling: bool = True,
    disabled: Iterable[object] = (),
) -> dict[str, Integration]:
    """Instantiate and install integrations; returns them by identifier."""
    chosen: dict[str, Integration] = {}
    candidates: list[type[Integration]] = []
    if with_defaults:
        candidates += [c for c in (_load(m, n) for m, n in DEFAULT_INTEGRATIONS) if c]
        if with_auto_enabling:
            for module, name, framework in AUTO_ENABLING_INTEGRATIONS:
                if framework in sys.modules:  # never import a framework the app did not
                    cls = _load(module, name)
                    if cls is not None:
                        candidates.append(cls)
    for cls in candidates:
        try:
            chosen[cls.identifier] = cls()
        except DidNotEnable as exc:
            logger.debug("integration %s did not enable: %s", cls.identifier, exc)
    for given in integrations:  # the user's instances replace defaults with the same identifier
        if isinstance(given, Integration):
            chosen[given.identifier] = given
    disabled = list(disabled)
    for identifier, integration in list(chosen.items()):
        if _is_disabled(integration, disabled):
            del chosen[identifier]
            continue
        key = f"{type(integration).__module__}.{type(integration).__qualname__}"
        with _install_lock:
            if key in _installed:
                continue
            try:
                type(integration).setup_once()
            except DidNotEnable as exc:
                logger.debug("integration %s did not enable: %s", identifier, exc)
                del chosen[identifier]
                continue
            _installed.add(key)
    return chosen
