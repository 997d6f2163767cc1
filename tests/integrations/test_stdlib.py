"""The stdlib integration: breadcrumbs for http.client requests and subprocess runs."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest

import tripwire
from tripwire.integrations.stdlib import StdlibIntegration, describe_command, http_breadcrumb
from tripwire.testing import capture_events


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(self.path.strip("/").split("?")[0] or 200)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> None:
    try:
        urllib.request.urlopen(url).read()
    except urllib.request.HTTPError:
        pass


def _crumbs(event: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in event.get("breadcrumbs", {}).get("values", []) if c["type"] == kind]


def test_http_requests_leave_breadcrumbs_with_status(
    events: list[dict[str, Any]], server_url: str
) -> None:
    _get(f"{server_url}/200?page=2#top")
    _get(f"{server_url}/404")
    _get(f"{server_url}/503")
    tripwire.capture_message("probe")
    crumbs = _crumbs(events[0], "http")
    assert [c["data"]["http.response.status_code"] for c in crumbs] == [200, 404, 503]
    assert [c.get("level") for c in crumbs] == [None, "warning", "error"]
    first = crumbs[0]
    assert first["category"] == "httplib"
    assert first["data"]["http.method"] == "GET"
    assert first["data"]["url"] == f"{server_url}/200"
    assert first["data"]["http.query"] == "page=2"


def test_request_without_response_leaves_an_error_breadcrumb(
    events: list[dict[str, Any]],
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()  # the request arrived; no answer comes

    Thread(target=hang_up, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/orders"
    with pytest.raises(http.client.RemoteDisconnected):
        urllib.request.urlopen(url)
    listener.close()
    tripwire.capture_message("probe")
    [crumb] = _crumbs(events[0], "http")
    assert crumb["level"] == "error"
    assert crumb["data"] == {"http.method": "GET", "url": url, "reason": "RemoteDisconnected"}


def test_requests_to_the_dsn_host_are_not_recorded(server_url: str) -> None:
    port = server_url.rsplit(":", 1)[1]
    dsn = f"http://key@127.0.0.1:{port}/1"
    with capture_events(dsn=dsn) as events:
        _get(f"{server_url}/200")
        tripwire.capture_message("probe")
    assert _crumbs(events[0], "http") == []


def test_subprocess_runs_leave_breadcrumbs(events: list[dict[str, Any]], tmp_path: Any) -> None:
    subprocess.run([sys.executable, "-c", "pass"], cwd=tmp_path, check=True)
    tripwire.capture_message("probe")
    [crumb] = _crumbs(events[0], "subprocess")
    assert crumb["category"] == "subprocess"
    assert crumb["message"] == f"{sys.executable} -c pass"
    assert crumb["data"] == {"subprocess.cwd": str(tmp_path)}


def test_a_command_that_cannot_start_is_recorded_before_the_error(
    events: list[dict[str, Any]],
) -> None:
    with pytest.raises(FileNotFoundError):
        subprocess.run(["/nonexistent/tool", "--flag"], check=False)
    tripwire.capture_message("probe")
    [crumb] = _crumbs(events[0], "subprocess")
    assert crumb["message"] == "/nonexistent/tool --flag"


def test_disabled_stdlib_records_nothing(server_url: str) -> None:
    with capture_events(disabled_integrations=[StdlibIntegration]) as events:
        _get(f"{server_url}/200")
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        tripwire.capture_message("probe")
    assert "breadcrumbs" not in events[0]


def test_command_descriptions() -> None:
    assert describe_command("ls -l") == "ls -l"
    assert describe_command([b"echo", "hi", 3]) == "echo hi 3"
    assert len(describe_command(["x" * 5000])) == 1024


def test_http_breadcrumb_never_keeps_credentials() -> None:
    crumb = http_breadcrumb("GET", "https://user:secret@example.com/a?b=1", 200, "OK")
    assert crumb["data"]["url"] == "https://example.com/a"


def test_requests_to_spotlight_are_not_recorded(server_url: str) -> None:
    with capture_events(spotlight=f"{server_url}/stream") as events:
        _get(f"{server_url}/200")
        tripwire.capture_message("probe")
    assert _crumbs(events[0], "http") == []


def test_urllib3_requests_are_recorded_too(events: list[dict[str, Any]], server_url: str) -> None:
    import urllib3

    with urllib3.PoolManager() as pool:
        pool.request("GET", f"{server_url}/404?q=1")
    tripwire.capture_message("probe")
    [crumb] = _crumbs(events[0], "http")
    assert crumb["data"]["http.response.status_code"] == 404
    assert crumb["data"]["url"] == f"{server_url}/404"
