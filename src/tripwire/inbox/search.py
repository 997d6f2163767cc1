"""The issue search language: ``is:unresolved level:error key:value free text``.

``is:`` takes a status or ``regressed``; ``level:`` a level; ``project:`` a project name;
any other ``key:value`` matches an issue whose events carried that tag; the rest (quotes
keep spaces) must appear in the title or culprit. Words are ANDed. ``Search.sql()`` gives a WHERE clause and its parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["SORTS", "BadCursor", "Search", "Sort", "parse_search"]


class BadCursor(ValueError):
    """A page cursor that this sort did not make."""


@dataclass(frozen=True)
class Sort:
    """An issue order, ``column`` then ``id`` (the tie-breaker), both one way.

    Pages are cut by keyset: a cursor names the last issue shown by its sort value and id,
    and the next page starts strictly after it, so issues that move while someone pages
    (a new event bumps ``last_seen``) are never shown twice on the way down.
    """

    column: str
    descending: bool

    def order_by(self) -> str:
        way = "DESC" if self.descending else "ASC"
        return f"issues.{self.column} {way}, issues.id {way}"

    def cursor(self, value: float, issue_id: int) -> str:
        return f"{value!r}~{issue_id}"

    def after(self, cursor: str) -> tuple[str, list[object]]:
        """A WHERE clause for the issues after ``cursor``; raises ``BadCursor``."""
        value, _, issue_id = cursor.rpartition("~")
        try:
            point = (float(value), int(issue_id))
        except ValueError:
            raise BadCursor(f"not a page cursor: {cursor[:64]!r}") from None
        way = "<" if self.descending else ">"
        return f"(issues.{self.column}, issues.id) {way} (?, ?)", list(point)


# Sort name → order; the first is the default.
SORTS: dict[str, Sort] = {
    "last_seen": Sort("last_seen", descending=True),
    "first_seen": Sort("first_seen", descending=True),
    "times_seen": Sort("times_seen", descending=True),
    "oldest": Sort("last_seen", descending=False),
}
_TOKEN = re.compile(r'(\w[\w.\-]*):"([^"]*)"?|(\S+?):(\S+)|"([^"]*)"?|(\S+)')


@dataclass
class Search:
    statuses: list[str] = field(default_factory=list)
    regressed: bool = False
    levels: list[str] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)

    def sql(self) -> tuple[str, list[object]]:
        """A WHERE clause (without ``WHERE``) over ``issues`` and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.statuses:
            clauses.append(f"issues.status IN ({', '.join('?' * len(self.statuses))})")
            params.extend(self.statuses)
        if self.regressed:
            clauses.append("issues.is_regression = 1")
        if self.levels:
            clauses.append(f"issues.level IN ({', '.join('?' * len(self.levels))})")
            params.extend(self.levels)
        if self.projects:
            marks = ", ".join("?" * len(self.projects))
            clauses.append(
                f"issues.project_id IN (SELECT id FROM projects WHERE name IN ({marks}))"
            )
            params.extend(self.projects)
        for key, value in self.tags:
            clauses.append(
                "EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = issues.id "
                "AND t.key = ? AND t.value = ?)"
            )
            params.extend((key, value))
        for word in self.words:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("(issues.title LIKE ? ESCAPE '\\' OR issues.culprit LIKE ? ESCAPE '\\')")
            params.extend((f"%{escaped}%", f"%{escaped}%"))
        return (" AND ".join(clauses) or "1"), params


def parse_search(query: str) -> Search:
    """Parse a search box; unknown ``is:`` values are kept as free text, never an error."""
    search = Search()
    for match in _TOKEN.finditer(query or ""):
        quoted_key, quoted_value, key, value, quoted_word, word = match.groups()
        if quoted_key is not None:
            key, value = quoted_key, quoted_value
        if key is not None and value is not None:
            lowered = value.lower()
            if key == "is" and lowered in ("unresolved", "resolved", "ignored"):
                search.statuses.append(lowered)
            elif key == "is" and lowered in ("regressed", "regression"):
                search.regressed = True
            elif key == "level":
                search.levels.append(lowered)
            elif key == "project":
                search.projects.append(value)
            elif key == "is":
                search.words.append(f"{key}:{value}")
            else:
                search.tags.append((key, value))
        elif quoted_word is not None:
            if quoted_word:
                search.words.append(quoted_word)
        elif word is not None:
            search.words.append(word)
    return search
