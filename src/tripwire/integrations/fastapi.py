"""FastAPI: FastAPI apps are Starlette apps; this names their failures ``fastapi``."""

from __future__ import annotations

from typing import ClassVar

from tripwire.integrations import DidNotEnable
from tripwire.integrations.starlette import StarletteIntegration

__all__ = ["FastApiIntegration"]


class FastApiIntegration(StarletteIntegration):
    """Report FastAPI request failures with request data (see ``StarletteIntegration``)."""

    identifier: ClassVar[str] = "fastapi"

    @staticmethod
    def setup_once() -> None:
        """Install the Starlette patches; FastAPI needs nothing more."""
        try:
            import fastapi  # noqa: F401 - only checks that it is installed
        except ImportError as exc:
            raise DidNotEnable("fastapi is not installed") from exc
        StarletteIntegration.setup_once()
