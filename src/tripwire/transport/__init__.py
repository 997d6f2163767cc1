"""Delivery: the Transport seam and the HTTP transport behind ``init(dsn=...)``."""

from __future__ import annotations

from tripwire.transport.base import CallableTransport, Transport
from tripwire.transport.http import HttpTransport, make_transport

__all__ = ["CallableTransport", "HttpTransport", "Transport", "make_transport"]
