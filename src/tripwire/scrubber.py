"""The event scrubber: secrets replaced by ``[Filtered]`` before the event leaves the process.

Runs after ``serializer.serialize_event`` (so it sees JSON data only, custom objects included)
and before ``before_send``: on the transport's worker, or on the caller's thread when a
``before_send`` must see the scrubbed event. Fixes the Notes of scrubbing.md §4:

- a key is secret by ``secret_names``' rule, the one ``safe_repr`` applies inside reprs: it
  equals an entry of the deny lists, or its words contain one of the key terms (sentry 2.75's
  ``data_collection`` list and ours; names of the client's address unless
  ``send_default_pii``); ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and
  ``Set-Cookie`` always are;
- nested dicts and lists are scrubbed too (``recursive`` defaults to True): ``extra``, ``user``,
  custom contexts, tags, breadcrumb data, frame ``vars``, request headers/cookies/data/env;
- query strings (``request.query_string``, the query of ``request.url`` and of breadcrumb URLs)
  lose the values of secret parameters, and URLs their userinfo password;
- secrets are recognised by their shape in every free-text string (messages, exception values,
  source lines, any value): card numbers passing Luhn, bearer tokens, PEM private keys, cloud
  keys, JWTs, URL passwords; the matched part alone is replaced;
- one substitution everywhere: ``"[Filtered]"`` noted ``{"rem": [["!config", "s"]]}`` in
  ``_meta`` (with the replaced range when only part of a string was).

``user.ip_address`` is never removed: without ``send_default_pii`` integrations do not collect
the client's address, so one that is present was set by the application on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

from tripwire.meta import add_note
from tripwire.options import Options
from tripwire.secret_names import (
    DEFAULT_DENYLIST,
    DEFAULT_KEY_TERMS,
    DEFAULT_PII_DENYLIST,
    DEFAULT_PII_KEY_TERMS,
    SECRET_HEADERS,
    SecretNames,
)
from tripwire.secrets import DEFAULT_VALUE_PATTERNS, FILTERED, ValueShapes
from tripwire.types import Event

__all__ = [
    "DEFAULT_DENYLIST",
    "DEFAULT_KEY_TERMS",
    "DEFAULT_PII_DENYLIST",
    "DEFAULT_VALUE_PATTERNS",
    "FILTERED",
    "EventScrubber",
    "scrub_event",
    "scrubber_for",
]

Path = tuple[str, ...]

_SUBSTITUTED: dict[str, Any] = {"rem": [["!config", "s"]]}
_MAX_REMEMBERED = 4096  # key verdicts kept between events
_ONLY_STR = frozenset({str})
_LINE_FIELDS = ("pre_context", "context_line", "post_context")
_URL_KEYS = frozenset({"url", "http.url", "to", "from"})
_QUERY_KEYS = frozenset({"http.query", "query", "query_string"})
_SCRUBBED_FIELDS = frozenset(
    {
        "message", "transaction", "extra", "tags", "user", "logentry", "contexts", "request",
        "breadcrumbs", "exception", "threads", "stacktrace",
    }
)  # fmt: skip
_NOT_SCRUBBED_CONTEXTS = frozenset({"trace"})  # ids the server needs, no user data


class _Walk:
    """The state of one ``scrub_event`` call, so that threads can share a scrubber."""

    __slots__ = ("hits", "notes", "texts")

    def __init__(self, notes: dict[str, Any]) -> None:
        self.notes = notes
        self.texts: list[str] | None = []  # the strings the first walk gathered, not known clean
        self.hits: set[str] = set()  # the strings holding a secret shape


class EventScrubber:
    """Replaces secrets in an event, as ``sentry_sdk.scrubber.EventScrubber`` does, and more.

    Safe to share between threads: the state of a call lives in that call; the caches of key
    verdicts and clean strings are only added to or cleared whole.

    ``denylist`` and ``pii_denylist`` are whole key names (defaults ``DEFAULT_DENYLIST`` and,
    unless ``send_default_pii``, ``DEFAULT_PII_DENYLIST`` plus the terms
    ``DEFAULT_PII_KEY_TERMS``); ``key_terms`` are words of key names (default
    ``DEFAULT_KEY_TERMS``; ``[]`` turns word matching off);
    ``value_patterns`` are regexes of secrets found in any string (default
    ``DEFAULT_VALUE_PATTERNS``; a group named ``secret`` limits what is replaced). Extend a
    default by passing it plus your own, e.g. ``key_terms=[*DEFAULT_KEY_TERMS, "ssn"]``.
    """

    def __init__(
        self,
        denylist: Iterable[str] | None = None,
        recursive: bool = True,
        send_default_pii: bool = False,
        pii_denylist: Iterable[str] | None = None,
        key_terms: Iterable[str] | None = None,
        value_patterns: Iterable[re.Pattern[str] | str] | None = None,
    ) -> None:
        names = list(DEFAULT_DENYLIST if denylist is None else denylist)
        if not send_default_pii:
            names += DEFAULT_PII_DENYLIST if pii_denylist is None else pii_denylist
        self.denylist = [name.lower() for name in names]
        self.recursive = recursive
        self.send_default_pii = send_default_pii
        self.key_terms = [
            t.lower() for t in (DEFAULT_KEY_TERMS if key_terms is None else key_terms)
        ]
        terms = list(self.key_terms)
        if not send_default_pii and pii_denylist is None:
            terms += DEFAULT_PII_KEY_TERMS
        self._secret_names = SecretNames([*self.denylist, *SECRET_HEADERS], terms)
        self._shapes = ValueShapes(
            DEFAULT_VALUE_PATTERNS if value_patterns is None else value_patterns
        )
        self._verdicts: dict[str, bool] = {}
        self._safe_keys: set[str] = set()  # keys seen not to be secret: a subset test is cheap

    def is_secret_key(self, key: str) -> bool:
        """True when values under ``key`` are replaced."""
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._secret_names.is_secret(key)
            if len(self._verdicts) >= _MAX_REMEMBERED:
                self._verdicts.clear()
                self._safe_keys.clear()
            self._verdicts[key] = verdict
            if not verdict:
                self._safe_keys.add(key)
        return verdict

    def scrub_event(self, event: Event) -> None:
        """Replace the secrets of a serialized ``event`` in place, noting them in ``_meta``.

        One walk replaces the values of secret keys and gathers the strings not known clean;
        the secret shapes are then looked for in all of them at once, and only when one is
        present does a second walk replace it in the strings holding it.
        """
        data: dict[str, Any] = event  # type: ignore[assignment]
        meta = data.get("_meta")
        walk = _Walk(meta if isinstance(meta, dict) else {})
        self._scrub(data, walk)
        texts: list[str] = walk.texts  # type: ignore[assignment]
        walk.texts = None
        walk.hits = self._shapes.found(texts)
        if walk.hits:
            self._scrub(data, walk)
        self._shapes.remember_clean(texts, walk.hits)
        if walk.notes and "_meta" not in data:
            data["_meta"] = walk.notes

    def _scrub(self, data: dict[str, Any], walk: _Walk) -> None:
        for key, value in data.items():
            if key not in _SCRUBBED_FIELDS:  # ids, sdk, modules, fingerprint...
                continue
            if key in ("message", "transaction"):
                data[key] = self._text(value, (key,), walk)
            elif key in ("extra", "tags", "user"):
                self._walk(
                    value,
                    (key,),
                    walk,
                    self.recursive,
                    skip="ip_address" if key == "user" else None,
                )
            elif key == "logentry" and isinstance(value, dict):
                self._walk(value, (key,), walk, True)
            elif key == "contexts" and isinstance(value, dict):
                for name, context in value.items():
                    if name not in _NOT_SCRUBBED_CONTEXTS:
                        self._walk(context, (key, name), walk, self.recursive)
            elif key == "request" and isinstance(value, dict):
                self._request(value, walk)
            elif key == "breadcrumbs":
                self._values(value, key, walk, self._crumb)
            elif key in ("exception", "threads"):
                self._values(value, key, walk, self._stacktrace_holder)
            elif key == "stacktrace":
                self._stacktrace(value, (key,), walk)

    # -- the parts of an event ------------------------------------------------------------------

    def _values(self, value: object, key: str, walk: _Walk, each: Any) -> None:
        items = value.get("values") if isinstance(value, dict) else None
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    each(item, (key, "values", str(index)), walk)

    def _crumb(self, crumb: dict[str, Any], path: Path, walk: _Walk) -> None:
        if "message" in crumb:
            crumb["message"] = self._text(crumb["message"], (*path, "message"), walk)
        data = crumb.get("data")
        if isinstance(data, dict):
            for name in _URL_KEYS.intersection(data):
                data[name] = self._url(data[name], (*path, "data", name), walk)
            for name in _QUERY_KEYS.intersection(data):
                data[name] = self._query(data[name], (*path, "data", name), walk)
            self._walk(data, (*path, "data"), walk, self.recursive)

    def _stacktrace_holder(self, holder: dict[str, Any], path: Path, walk: _Walk) -> None:
        if "value" in holder:
            holder["value"] = self._text(holder["value"], (*path, "value"), walk)
        if isinstance(holder.get("stacktrace"), dict):
            self._stacktrace(holder["stacktrace"], (*path, "stacktrace"), walk)

    def _stacktrace(self, trace: object, path: Path, walk: _Walk) -> None:
        frames = trace.get("frames") if isinstance(trace, dict) else None
        if not isinstance(frames, list):
            return
        if walk.texts is not None:
            self._gather_frames(frames, path, walk)
            return
        hits = walk.hits
        for index, frame in enumerate(frames):
            if type(frame) is not dict:
                continue
            local_vars = frame.get("vars")
            if local_vars:
                self._walk(local_vars, (*path, "frames", str(index), "vars"), walk, self.recursive)
            for name in _LINE_FIELDS:
                lines = frame.get(name)
                if type(lines) is str:
                    if lines in hits:
                        frame[name] = self._text(lines, (*path, "frames", str(index), name), walk)
                elif type(lines) is list:
                    for number, line in enumerate(lines):
                        if type(line) is str and line in hits:
                            where = (*path, "frames", str(index), name, str(number))
                            lines[number] = self._text(line, where, walk)

    def _gather_frames(self, frames: list[Any], path: Path, walk: _Walk) -> None:
        """The first walk of frames, the bulk of most events: gathers what is not known clean."""
        clean = self._shapes.clean
        texts: list[str] = walk.texts  # type: ignore[assignment]
        for index, frame in enumerate(frames):
            if type(frame) is not dict:
                continue
            local_vars = frame.get("vars")
            if local_vars and not self._gathered_plain(local_vars, texts):
                self._walk(local_vars, (*path, "frames", str(index), "vars"), walk, self.recursive)
            line = frame.get("context_line")
            if type(line) is str and line not in clean:
                texts.append(line)
            for name in ("pre_context", "post_context"):
                lines = frame.get(name)
                if type(lines) is list and not _all_in(clean, lines):
                    texts.extend(line for line in lines if type(line) is str)

    def _gathered_plain(self, value: Any, texts: list[str]) -> bool:
        """True when ``value`` is a dict of known-safe keys and string values, now gathered.

        The usual locals: names known safe, reprs as values, none of them new.
        """
        if type(value) is not dict or not self._safe_keys.issuperset(value):
            return False
        values = value.values()
        if _all_in(self._shapes.clean, values):
            return True
        if not _ONLY_STR.issuperset(map(type, values)):
            return False
        texts.extend(values)
        return True

    def _request(self, request: dict[str, Any], walk: _Walk) -> None:
        for key, value in request.items():
            path = ("request", key)
            if key == "url":
                request[key] = self._url(value, path, walk)
            elif key == "query_string":
                request[key] = self._query(value, path, walk)
            elif key in ("headers", "cookies", "env"):
                if isinstance(value, str) and key == "cookies":
                    request[key] = self._pairs(value, ";", path, walk)
                else:
                    self._walk(value, path, walk, self.recursive)
            elif key == "data":
                if isinstance(value, (dict, list)):
                    self._walk(value, path, walk, self.recursive)
                else:
                    request[key] = self._text(value, path, walk)

    # -- values ---------------------------------------------------------------------------------

    def _walk(
        self,
        value: object,
        path: Path,
        walk: _Walk,
        recursive: bool,
        skip: str | None = None,
    ) -> None:
        """Scrub the dict or list ``value`` in place: secret keys, then secret shapes."""
        if walk.texts is not None and self._gathered_plain(value, walk.texts):
            return
        container: Any = value
        if type(value) is dict:
            pairs: Any = container.items()
        elif type(value) is list:
            pairs = enumerate(container)
        else:
            return
        for key, item in pairs:
            if type(key) is str and key != skip and self.is_secret_key(key):
                if item is not None and item != "" and item != FILTERED:
                    container[key] = FILTERED
                    add_note(walk.notes, (*path, key), _SUBSTITUTED)
                continue
            kind = type(item)
            if kind is str:
                scrubbed = self._text(item, (*path, str(key)), walk)
                if scrubbed is not item:
                    container[key] = scrubbed
            elif kind is int:
                if self._shapes.is_card_int(item):
                    container[key] = FILTERED
                    add_note(walk.notes, (*path, str(key)), _SUBSTITUTED)
            elif recursive and (kind is dict or kind is list):
                self._walk(item, (*path, str(key)), walk, recursive)

    def _text(self, text: Any, path: Path, walk: _Walk) -> Any:
        if type(text) is not str:
            return text
        if walk.texts is not None:
            if text not in self._shapes.clean:
                walk.texts.append(text)
            return text
        if text not in walk.hits:
            return text
        found = self._shapes.replace(text)
        if found is None:
            return text
        scrubbed, remarks = found
        add_note(walk.notes, path, {"rem": [["!config", "s"]] if scrubbed == FILTERED else remarks})
        return scrubbed

    def _url(self, url: Any, path: Path, walk: _Walk) -> Any:
        if type(url) is not str:
            return url
        base, mark, rest = url.partition("?")
        if mark:
            query, hash_mark, fragment = rest.partition("#")
            filtered = self._pairs(query, "&", None, walk)
            if filtered is not query:
                url = f"{base}?{filtered}{hash_mark}{fragment}"
                add_note(walk.notes, path, _SUBSTITUTED)
        return self._text(url, path, walk)

    def _query(self, query: object, path: Path, walk: _Walk) -> Any:
        if isinstance(query, str):
            return self._text(self._pairs(query, "&", path, walk), path, walk)
        self._walk(query, path, walk, True)  # a dict, or a list of [name, value] pairs
        if isinstance(query, list):
            for index, pair in enumerate(query):
                if (
                    isinstance(pair, list)
                    and len(pair) == 2
                    and isinstance(pair[0], str)
                    and self.is_secret_key(pair[0])
                    and pair[1] not in (None, "", FILTERED)
                ):
                    pair[1] = FILTERED
                    add_note(walk.notes, (*path, str(index), "1"), _SUBSTITUTED)
        return query

    def _pairs(self, text: str, separator: str, path: Path | None, walk: _Walk) -> str:
        """``name=value`` pairs with the values of secret names replaced; same text if none."""
        if "=" not in text:
            return text
        parts = text.split(separator)
        changed = False
        for index, part in enumerate(parts):
            name, equals, value = part.partition("=")
            if (
                equals
                and value
                and value != FILTERED
                and self.is_secret_key(unquote_plus(name).strip())
            ):
                parts[index] = f"{name}={FILTERED}"
                changed = True
        if not changed:
            return text
        if path is not None:
            add_note(walk.notes, path, _SUBSTITUTED)
        return separator.join(parts)


def _all_in(known: set[str], values: Iterable[object]) -> bool:
    try:
        return known.issuperset(values)
    except TypeError:  # an unhashable value
        return False


def scrub_event(event: Event, scrubber: EventScrubber | None = None) -> None:
    """Scrub ``event`` in place with ``scrubber`` (default: ``EventScrubber()``)."""
    (scrubber or scrubber_for(None)).scrub_event(event)


_DEFAULTS: dict[bool, EventScrubber] = {}


def scrubber_for(options: Options | None) -> EventScrubber:
    """The scrubber the options ask for: ``event_scrubber`` if given, else a shared default.

    The default is ``EventScrubber(send_default_pii=options.send_default_pii)``, made once per
    process (its caches of key verdicts and clean source lines then serve every event).
    """
    if options is not None and isinstance(options.event_scrubber, EventScrubber):
        return options.event_scrubber
    with_pii = bool(options is not None and options.send_default_pii)
    scrubber = _DEFAULTS.get(with_pii)
    if scrubber is None:
        scrubber = _DEFAULTS.setdefault(with_pii, EventScrubber(send_default_pii=with_pii))
    return scrubber
