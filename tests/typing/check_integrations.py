"""Checked by mypy --strict (never run): integrations take sentry_sdk's arguments."""

from __future__ import annotations

import logging

from typing_extensions import assert_type

import tripwire
from tripwire.integrations.argv import ArgvIntegration
from tripwire.integrations.asyncio import AsyncioIntegration, enable_asyncio_integration
from tripwire.integrations.atexit import AtexitIntegration
from tripwire.integrations.dedupe import DedupeIntegration
from tripwire.integrations.excepthook import ExcepthookIntegration
from tripwire.integrations.logging import (
    BreadcrumbHandler,
    EventHandler,
    LoggingIntegration,
    ignore_logger,
)
from tripwire.integrations.modules import ModulesIntegration
from tripwire.integrations.stdlib import StdlibIntegration
from tripwire.integrations.threading import ThreadingIntegration
from tripwire.integrations.unraisablehook import UnraisablehookIntegration


def check() -> None:
    tripwire.init(
        "https://key@example.com/1",
        integrations=[
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            LoggingIntegration(level="DEBUG", event_level=None, sentry_logs_level=None),
            ExcepthookIntegration(always_run=True),
            ThreadingIntegration(propagate_scope=False),
            AsyncioIntegration(),
            AtexitIntegration(callback=lambda pending, timeout: None),
            UnraisablehookIntegration(),
        ],
        disabled_integrations=[
            ArgvIntegration,
            ModulesIntegration(),
            StdlibIntegration,
            DedupeIntegration,
        ],
        default_integrations=True,
    )
    ignore_logger("noisy.*")
    enable_asyncio_integration()
    logging.getLogger().addHandler(EventHandler(level=logging.ERROR))
    logging.getLogger().addHandler(BreadcrumbHandler(level=logging.INFO))
    assert_type(ThreadingIntegration().propagate_scope, bool)
