"""tripwire: error tracking for Python, with the event-capture API of sentry_sdk."""

from __future__ import annotations

from tripwire import integrations
from tripwire._version import VERSION
from tripwire._version import VERSION as __version__
from tripwire.active import (
    get_client,
    get_current_scope,
    get_global_scope,
    get_isolation_scope,
    isolation_scope,
    new_scope,
    use_isolation_scope,
    use_scope,
)
from tripwire.api import (
    add_attachment,
    add_breadcrumb,
    capture_event,
    capture_exception,
    capture_message,
    flush,
    init,
    is_initialized,
    last_event_id,
    set_context,
    set_extra,
    set_level,
    set_tag,
    set_tags,
    set_transaction_name,
    set_user,
)
from tripwire.client import Client
from tripwire.scope import Scope
from tripwire.transport.base import Transport

__all__ = [
    "VERSION",
    "Client",
    "Scope",
    "Transport",
    "__version__",
    "add_attachment",
    "add_breadcrumb",
    "capture_event",
    "capture_exception",
    "capture_message",
    "flush",
    "get_client",
    "get_current_scope",
    "get_global_scope",
    "get_isolation_scope",
    "init",
    "integrations",
    "is_initialized",
    "isolation_scope",
    "last_event_id",
    "new_scope",
    "set_context",
    "set_extra",
    "set_level",
    "set_tag",
    "set_tags",
    "set_transaction_name",
    "set_user",
    "use_isolation_scope",
    "use_scope",
]
