"""The web UI's routes (server-rendered, autoescaped Jinja2 templates)."""

from __future__ import annotations

from starlette.routing import BaseRoute

__all__ = ["ui_routes"]


def ui_routes() -> list[BaseRoute]:
    return []
