"""Names that mark a value as secret, checked while locals are repr'd on the caller's thread.

A local's repr is one string, so the event scrubber can no longer see the keys inside it:
``safe_repr`` asks here about each dict key and each ``(name, value)`` pair (an ASGI header,
say) and shows a secret's value as ``[Filtered]``. The rule is sentry-python 2.75's
``data_collection`` one, a case-insensitive substring match, minus parts that match ordinary
words ("key" in "keyboard", "sid" in "inside"). Names found safe are remembered, so the usual
check is one set operation per dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["FILTERED", "KNOWN_SAFE_NAMES", "SENSITIVE_NAME_PARTS", "is_safe_name", "names_are_safe"]

# The client-address names are PII: a repr cannot know send_default_pii, so they always go.
SENSITIVE_NAME_PARTS = (
    "auth", "token", "secret", "passw", "pwd", "jwt", "bearer", "csrf", "xsrf", "credential",
    "session", "cookie", "apikey", "api_key", "api-key", "private_key", "privatekey",
    "access_key", "signature", "forwarded", "real_ip", "real-ip", "remote_addr", "ip_address",
)  # fmt: skip
_SENSITIVE = re.compile("|".join(map(re.escape, SENSITIVE_NAME_PARTS)))
_MAX_KNOWN = 10_000
_MAX_REMEMBERED_LENGTH = 64

# str and bytes names checked and found safe; only ever grows (to _MAX_KNOWN), never rebound.
KNOWN_SAFE_NAMES: set[object] = set()


class _Filtered:
    """Stands in for a secret value; its repr is what the event shows."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "[Filtered]"


FILTERED = _Filtered()


def names_are_safe(names: Iterable[object]) -> bool:
    """True when none of ``names`` is a str or bytes naming a secret."""
    try:
        if KNOWN_SAFE_NAMES.issuperset(names):
            return True
    except Exception:  # a key with a hostile __hash__ or __eq__; only str and bytes matter
        pass
    return all(is_safe_name(name) for name in names)


def is_safe_name(name: object) -> bool:
    """False for a str or bytes that contains one of ``SENSITIVE_NAME_PARTS``, any case."""
    kind = type(name)
    if kind is str:
        text: str = name  # type: ignore[assignment]
    elif kind is bytes:
        text = name.decode("latin-1")  # type: ignore[attr-defined]
    else:
        return True
    if name in KNOWN_SAFE_NAMES:
        return True
    if _SENSITIVE.search(text.lower()):
        return False
    if len(text) <= _MAX_REMEMBERED_LENGTH and len(KNOWN_SAFE_NAMES) < _MAX_KNOWN:
        KNOWN_SAFE_NAMES.add(name)
    return True
