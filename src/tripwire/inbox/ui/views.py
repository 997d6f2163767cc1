"""The web UI's routes: the issue list, an issue, status changes, an event's JSON.

Pages are rendered on the server by Jinja2 with autoescaping on for every template, and
served with a Content-Security-Policy that allows no script at all: a ``<script>`` inside
an event is shown as text and could not run even if a template forgot to escape it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tripwire.inbox import queries
from tripwire.inbox.console import ago
from tripwire.inbox.grouping import message_of
from tripwire.inbox.records import STATUSES
from tripwire.inbox.search import SORTS, BadCursor
from tripwire.inbox.storage import Storage
from tripwire.inbox.ui import present

__all__ = ["PAGE_SIZE", "SECURITY_HEADERS", "templates", "ui_routes"]

DEFAULT_QUERY = "is:unresolved"
PAGE_SIZE = 100
MAX_PREVIEW_BYTES = 64 * 1024
MAX_STATUS_BODY_BYTES = 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("tripwire.inbox.ui", "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["ago"] = ago
templates.filters["pretty"] = present.pretty
templates.filters["filesize"] = present.filesize
templates.filters["when"] = lambda moment: datetime.fromtimestamp(moment).isoformat(
    sep=" ", timespec="seconds"
)


def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.inbox.storage
    return storage


def _page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def _not_found(what: str) -> HTMLResponse:
    return _page("error.html", 404, title="Not found", message=what)


def _is_local_host(host_header: str) -> bool:
    """An IP literal, localhost or this machine's name: a page on another site that points
    its own name at 127.0.0.1 (DNS rebinding) must not be able to read the inbox."""
    host = urlsplit(f"//{host_header}").hostname or ""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    machine = socket.gethostname().lower()
    return host in ("localhost", machine, f"{machine}.local") or host.endswith(".localhost")


def _foreign_host(request: Request) -> Response | None:
    if _is_local_host(request.headers.get("host", "")):
        return None
    return _page("error.html", 403, title="Forbidden", message="Unexpected Host header.")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def issue_list(request: Request) -> Response:
    if refused := _foreign_host(request):
        return refused
    storage = _storage(request)
    query = request.query_params.get("q", DEFAULT_QUERY)
    sort = request.query_params.get("sort", "last_seen")
    sort = sort if sort in SORTS else "last_seen"
    after = request.query_params.get("after") or None
    try:
        listed = queries.issue_page(storage, query, sort=sort, size=PAGE_SIZE, after=after)
    except BadCursor as exc:
        return _page("error.html", 400, title="Bad request", message=str(exc))
    found = listed.issues
    tabs = [
        (label, f"/?{urlencode({'q': tab_query, 'sort': sort})}", query == tab_query)
        for label, tab_query in (
            ("Unresolved", "is:unresolved"),
            ("Regressed", "is:regressed"),
            ("Resolved", "is:resolved"),
            ("Ignored", "is:ignored"),
            ("All", ""),
        )
    ]
    here = {"q": query, "sort": sort}
    return _page(
        "issues.html",
        issues=found,
        total=listed.total,
        first_href=f"/?{urlencode(here)}" if after else None,
        next_href=f"/?{urlencode({**here, 'after': listed.next_cursor})}"
        if listed.next_cursor
        else None,
        histograms=queries.histograms(storage, [i.id for i in found]),
        query=query,
        sort=sort,
        sorts=list(SORTS),
        tabs=tabs,
        dsn=storage.default_project().dsn(_base_url(request)),
        projects={p.id: p.name for p in storage.projects()},
        now=time.time(),
    )


def issue_page(request: Request) -> Response:
    if refused := _foreign_host(request):
        return refused
    storage = _storage(request)
    issue = queries.issue(storage, request.path_params["issue_id"])
    if issue is None:
        return _not_found("There is no such issue.")
    wanted = request.query_params.get("event")
    event = queries.event(storage, wanted) if wanted else queries.latest_event(storage, issue.id)
    if event is None or event.issue_id != issue.id:
        if wanted:
            return _not_found("This issue has no such event.")
        event = None
    body = event.body if event else {}
    return _page(
        "issue.html",
        issue=issue,
        event=event,
        body=body,
        exceptions=present.exception_views(body),
        threads=present.thread_groups(body),
        message=message_of(body),
        breadcrumbs=present.breadcrumbs_of(body),
        event_tags=present.pairs(body.get("tags")),
        issue_tags=queries.issue_tags(storage, issue.id),
        contexts=[
            (name, present.pairs(value))
            for name, value in (body.get("contexts") or {}).items()
            if isinstance(value, dict)
        ]
        if isinstance(body.get("contexts"), dict)
        else [],
        request_rows=present.request_of(body),
        user=present.pairs(body.get("user")),
        extra=present.pairs(body.get("extra")),
        modules=present.pairs(body.get("modules")),
        sdk=body.get("sdk") if isinstance(body.get("sdk"), dict) else {},
        attachments=_attachment_views(storage, event.id) if event else [],
        other_events=queries.issue_events(storage, issue.id, limit=50),
        hours=queries.histograms(storage, [issue.id])[issue.id],
        statuses=STATUSES,
    )


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or kind in ("application/json", "application/xml")


def _attachment_views(storage: Storage, event_row: int) -> list[dict[str, Any]]:
    """The event's attachments; small text ones with their text, shown on the page."""
    views = []
    for found in queries.attachments(storage, event_row):
        preview = None
        if _is_text(found.content_type) and found.size <= MAX_PREVIEW_BYTES:
            read = queries.attachment(storage, found.id)
            preview = read[1].decode("utf-8", "replace") if read else None
        views.append({"attachment": found, "preview": preview})
    return views


def attachment_file(request: Request) -> Response:
    """An attachment's bytes, always as a download: a page sent as an attachment must never
    render under the inbox's origin."""
    if refused := _foreign_host(request):
        return refused
    found = queries.attachment(_storage(request), request.path_params["attachment_id"])
    if found is None:
        return _not_found("There is no such attachment.")
    stored, data = found
    ascii_name = stored.filename.encode("ascii", "replace").decode().replace('"', "'")
    disposition = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(stored.filename)}"
    )
    return Response(
        data,
        media_type="application/octet-stream",
        headers={**SECURITY_HEADERS, "Content-Disposition": disposition},
    )


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts: a page elsewhere must not resolve issues here."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


async def set_status(request: Request) -> Response:
    if refused := _foreign_host(request):
        return refused
    if not _same_origin(request):
        return _page("error.html", 403, title="Forbidden", message="Cross-site request refused.")
    body = await request.body()
    fields = parse_qs(body[:MAX_STATUS_BODY_BYTES].decode("utf-8", "replace"))
    status = (fields.get("status") or [""])[0]
    if status not in STATUSES:
        return _page("error.html", 400, title="Bad request", message="Unknown status.")
    issue_id = request.path_params["issue_id"]
    if not _storage(request).set_status(issue_id, status):
        return _not_found("There is no such issue.")
    return RedirectResponse(f"/issues/{issue_id}", status_code=303)


def event_json(request: Request) -> Response:
    if refused := _foreign_host(request):
        return refused
    event = queries.event(_storage(request), request.path_params["event_id"].replace("-", ""))
    if event is None:
        return _not_found("There is no such event.")
    return Response(
        json.dumps(event.body, indent=2, sort_keys=True),
        media_type="application/json",
        headers=SECURITY_HEADERS,
    )


def ui_routes() -> list[BaseRoute]:
    return [
        Route("/", issue_list, methods=["GET"]),
        Route("/issues/{issue_id:int}", issue_page, methods=["GET"]),
        Route("/issues/{issue_id:int}/status", set_status, methods=["POST"]),
        Route("/events/{event_id}.json", event_json, methods=["GET"]),
        Route("/attachments/{attachment_id:int}", attachment_file, methods=["GET"]),
        Mount("/static", StaticFiles(packages=[("tripwire.inbox.ui", "static")]), name="static"),
    ]
