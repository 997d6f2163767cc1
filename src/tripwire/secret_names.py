"""Names that mark a value as secret: one list and one rule, for event keys and inside reprs.

The event scrubber asks about every key of an event's dicts and every query parameter; while
locals are repr'd on the caller's thread, ``safe_repr`` asks about each dict key and each
``(name, value)`` pair (an ASGI header, say), since a repr is one string whose keys the scrubber
can no longer see. Both ask a ``SecretNames``, so a name filtered in one place is filtered in the
other.

A name is secret when, lower-cased with ``-`` read as ``_``, it is one of the whole names
(sentry's deny lists and the secret headers), or its words (snake_case, kebab-case, dotted and
camelCase split apart) contain a term (scrubbing.md §4). A term of one word also matches a word
that starts or ends with it, unless it is short enough to hide in ordinary words: ``key``
(monkey), ``sid`` (inside) and ``sso`` (lesson) must be whole words, as must any term under
four letters but ``pwd`` and ``jwt``. Names found safe are remembered, so the usual check is
one set operation per dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "DEFAULT_DENYLIST",
    "DEFAULT_KEY_TERMS",
    "DEFAULT_PII_DENYLIST",
    "DEFAULT_PII_KEY_TERMS",
    "FILTERED",
    "KNOWN_SAFE_NAMES",
    "SECRET_HEADERS",
    "SecretNames",
    "is_safe_name",
    "names_are_safe",
]

# sentry_sdk.scrubber's lists, names and order kept: matched as whole names.
DEFAULT_DENYLIST = [
    "password", "passwd", "secret", "api_key", "apikey", "auth", "credentials", "mysql_pwd",
    "privatekey", "private_key", "token", "session", "csrftoken", "sessionid", "x_csrftoken",
    "x_forwarded_for", "set_cookie", "cookie", "authorization", "proxy-authorization",
    "x_api_key", "aiohttp_session", "connect.sid", "csrf_token", "csrf", "_csrf",
    "_csrf_token", "PHPSESSID", "_session", "symfony", "user_session", "_xsrf", "XSRF-TOKEN",
]  # fmt: skip
DEFAULT_PII_DENYLIST = ["x_forwarded_for", "x_real_ip", "ip_address", "remote_addr"]
# sentry_sdk 2.75 data_collection's terms, then ours (names safe_repr filtered before both
# places shared this list).
DEFAULT_KEY_TERMS = [
    "auth", "token", "secret", "password", "passwd", "pwd", "key", "jwt", "bearer", "sso",
    "saml", "csrf", "xsrf", "credentials", "session", "sid", "identity",
    "credential", "cookie", "signature", "apikey", "privatekey", "sessionid",
]  # fmt: skip
# Names of the client's address: filtered unless send_default_pii (always inside reprs, which
# cannot know it). A term of several words matches those words in a row.
DEFAULT_PII_KEY_TERMS = ["ip_address", "remote_addr", "real_ip", "forwarded"]
# Always secret, whatever the lists say (compared after lower-casing and "-" -> "_").
SECRET_HEADERS = frozenset({"authorization", "proxy_authorization", "cookie", "set_cookie"})

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_SHORT_TERM = 4  # shorter terms must be whole words (key: monkey, sid: inside, sso: lesson)
_SHORT_PART_TERMS = frozenset({"pwd", "jwt"})  # no ordinary word starts or ends with them
# Words that start with a term but name no secret ("author" is not "auth").
_INNOCENT_WORDS = frozenset({"author", "authors", "authored", "authority", "keyboard"})


def _normal(name: str) -> str:
    return name.lower().replace("-", "_")


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(name)]


class SecretNames:
    """Whole names and terms; ``is_secret`` applies the rule of the module docstring."""

    __slots__ = ("could_hold", "names", "part_terms", "word_runs", "words")

    def __init__(self, names: Iterable[str], terms: Iterable[str]) -> None:
        self.names = frozenset(_normal(name) for name in names)
        words: set[str] = set()
        runs: set[str] = set()
        parts: set[str] = set()
        pieces: set[str] = set()
        for term in terms:
            term_words = _words(term)
            if term_words:
                pieces.add(max(term_words, key=len))
            if len(term_words) > 1:
                runs.add(f"_{'_'.join(term_words)}_")
            elif term_words:
                words.add(term_words[0])
                if _is_part_term(term_words[0]):
                    parts.add(term_words[0])
        self.words = frozenset(words)  # single-word terms
        self.word_runs = tuple(sorted(runs))  # terms of several words, "_"-framed
        self.part_terms = tuple(sorted(parts))  # str.startswith takes a tuple: one C call
        # A name whose words hold a term holds it lower-cased: most names are ruled out by one
        # regex search, without being split into words.
        self.could_hold = re.compile("|".join(sorted(pieces, key=len, reverse=True)) or "(?!)")

    def is_secret(self, name: str) -> bool:
        """True when values under ``name`` are secret."""
        normal = _normal(name)
        if normal in self.names:
            return True
        if self.could_hold.search(normal) is None:
            return False
        words = _words(name)
        if not self.words.isdisjoint(words):
            return True
        parts = self.part_terms
        for word in words:
            if (word.startswith(parts) or word.endswith(parts)) and word not in _INNOCENT_WORDS:
                return True
        if self.word_runs and len(words) > 1:
            spaced = f"_{'_'.join(words)}_"
            return any(run in spaced for run in self.word_runs)
        return False


def _is_part_term(word: str) -> bool:
    return len(word) >= _SHORT_TERM or word in _SHORT_PART_TERMS


# What reprs filter: the default scrubber's names with send_default_pii off.
_DEFAULT = SecretNames(
    [*DEFAULT_DENYLIST, *DEFAULT_PII_DENYLIST, *SECRET_HEADERS],
    [*DEFAULT_KEY_TERMS, *DEFAULT_PII_KEY_TERMS],
)
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
    """False for a str or bytes that names a secret (``SecretNames.is_secret``), any case."""
    kind = type(name)
    if kind is str:
        text: str = name  # type: ignore[assignment]
    elif kind is bytes:
        text = name.decode("latin-1")  # type: ignore[attr-defined]
    else:
        return True
    if name in KNOWN_SAFE_NAMES:
        return True
    if _DEFAULT.is_secret(text):
        return False
    if len(text) <= _MAX_REMEMBERED_LENGTH and len(KNOWN_SAFE_NAMES) < _MAX_KNOWN:
        KNOWN_SAFE_NAMES.add(name)
    return True
