"""The issue search language: ``is:unresolved level:error key:value free text``.

``is:`` takes a status or ``regressed``; ``level:`` a level; ``project:`` a project name;
any other ``key:value`` matches an issue whose events carried that tag; the rest (quotes
keep spaces) must appear in the title or culprit. Words are ANDed. ``Search.sql()`` gives a WHERE clause and its parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["SORTS", "Search", "parse_search"]

# Sort name → ORDER BY clause; the first is the default.
SORTS: dict[str, str] = {
    "last_seen": "issues.last_seen DESC, issues.id DESC",
    "first_seen": "issues.first_seen DESC, issues.id DESC",
    "times_seen": "issues.times_seen DESC, issues.id DESC",
    "oldest": "issues.last_seen ASC, issues.id ASC",
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
