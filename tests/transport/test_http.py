"""The HTTP transport against a real collector: what arrives, retries, rejections."""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.relay import assert_valid_event
from tests.transport.conftest import MakeTransport, event_envelope
from tripwire import drops
from tripwire.dsn import Dsn
from tripwire.envelope import Item
from tripwire.options import Options
from tripwire.testing import Collector, Response
from tripwire.transport.http import PARALLEL_REQUESTS, choose_proxy, make_pool

SENT_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def test_each_envelope_is_one_gzipped_post_with_auth_and_user_agent(
    collector: Collector, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    transport.capture_envelope(event_envelope("disk almost full"))

    assert transport.flush(5)
    [request] = collector.requests
    assert request.path == "/api/1/envelope/"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Content-Type"] == "application/x-sentry-envelope"
    assert request.headers["User-Agent"] == "tripwire.python/0.1.0"
    assert request.headers["X-Sentry-Auth"] == (
        "Sentry sentry_key=public, sentry_version=7, sentry_client=tripwire.python/0.1.0"
    )
    assert request.event is not None
    assert request.event["message"] == {"formatted": "disk almost full"}


def test_envelope_carries_event_id_sent_at_and_item_lengths(
    collector: Collector, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    envelope = event_envelope("with attachment")
    envelope.add_item(Item.attachment(b"line1\nline2\n", "log.txt"))
    transport.capture_envelope(envelope)

    assert transport.flush(5)
    [request] = collector.requests
    lines = request.body.split(b"\n")
    headers = json.loads(lines[0])
    assert headers["event_id"] == envelope.headers["event_id"]
    assert SENT_AT.match(headers["sent_at"])
    event_header = json.loads(lines[1])
    assert event_header["length"] == len(lines[2])
    attachment_header = json.loads(lines[3])
    assert attachment_header == {
        "filename": "log.txt",
        "content_type": "text/plain",
        "type": "attachment",
        "length": 12,
    }
    assert request.envelope is not None
    assert request.envelope.items[1].payload == b"line1\nline2\n"


def test_every_event_of_a_burst_of_5000_arrives(
    collector: Collector, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    for number in range(5000):
        transport.capture_envelope(event_envelope(f"burst {number}"))

    assert transport.flush(100)
    messages = {event["message"]["formatted"] for event in collector.events}
    assert messages == {f"burst {number}" for number in range(5000)}
    assert transport.drops.total == 0


def test_server_errors_are_retried_until_the_envelope_is_accepted(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(Response(500), Response(503))
    transport = make_transport()
    transport.capture_envelope(event_envelope("after two 5xx"))

    assert transport.flush(10)
    assert [r.status for r in collector.requests] == [500, 503, 200]
    assert [e["message"]["formatted"] for e in collector.events] == ["after two 5xx"]


def test_too_large_is_counted_as_send_error_and_never_retried(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(Response(413))
    transport = make_transport()
    transport.capture_envelope(event_envelope("too big"))
    transport.capture_envelope(event_envelope("fine"))

    transport.flush(5)
    assert [r.status for r in collector.requests][:2] == [413, 200]
    assert [e["message"]["formatted"] for e in collector.events] == ["fine"]
    assert transport.drops.totals() == {(drops.SEND_ERROR, "error"): 1}
    assert collector.discarded() == {(drops.SEND_ERROR, "error"): 1}


def test_a_connection_closed_without_an_answer_is_retried(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(Response(close=True))
    transport = make_transport()
    transport.capture_envelope(event_envelope("survives a reset"))

    assert transport.flush(10)
    assert [e["message"]["formatted"] for e in collector.events] == ["survives a reset"]


def test_a_slow_server_still_gets_everything(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(*[Response(delay_s=0.2)] * 3)
    transport = make_transport()
    for number in range(5):
        transport.capture_envelope(event_envelope(f"slow {number}"))

    assert transport.flush(10)
    assert len(collector.events) == 5


def test_a_hanging_request_times_out_and_the_envelope_is_sent_again(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(Response(hang=True))
    transport = make_transport(timeout_s=0.5)
    transport.capture_envelope(event_envelope("after a hang"))

    assert transport.flush(10)
    assert [e["message"]["formatted"] for e in collector.events] == ["after a hang"]


class _Proxy(ThreadingHTTPServer):
    """A minimal forwarding HTTP proxy that remembers the URLs it forwarded."""

    def __init__(self) -> None:
        self.forwarded: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _Proxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        import urllib.request

        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.forwarded.append(self.path)
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection")
        }
        request = urllib.request.Request(self.path, data=body, headers=headers, method="POST")
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request) as answer:
            payload = answer.read()
            self.send_response(answer.status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def test_the_http_proxy_option_routes_through_a_real_proxy(
    collector: Collector, make_transport: MakeTransport
) -> None:
    proxy = _Proxy()
    try:
        transport = make_transport(http_proxy=proxy.url)
        transport.capture_envelope(event_envelope("via proxy"))
        assert transport.flush(10)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert proxy.forwarded == [f"http://127.0.0.1:{collector.port}/api/1/envelope/"]
    assert [e["message"]["formatted"] for e in collector.events] == ["via proxy"]


def test_environment_proxy_is_used_unless_no_proxy_lists_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dsn = Dsn.parse("https://k@sentry.example.com/1")
    monkeypatch.setenv("https_proxy", "http://proxy.local:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert choose_proxy(Options(dsn=dsn), dsn) == "http://proxy.local:3128"
    assert choose_proxy(Options(dsn=dsn, https_proxy=""), dsn) is None
    monkeypatch.setenv("no_proxy", "localhost,.example.com")
    assert choose_proxy(Options(dsn=dsn), dsn) is None
    assert choose_proxy(Options(dsn=dsn, https_proxy="http://p:1"), dsn) == "http://p:1"


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    certificate, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
    files = ["-keyout", str(key), "-out", str(certificate)]
    subprocess.run(
        [*command.split(), *files, "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return certificate, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_is_verified_against_ca_certs(make_transport: MakeTransport, tmp_path: Path) -> None:
    certificate, key = _self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    with Collector(ssl_context=context) as secure:
        trusting = make_transport(dsn=secure.dsn, ca_certs=str(certificate))
        trusting.capture_envelope(event_envelope("over tls"))
        assert trusting.flush(10)

        doubting = make_transport(dsn=secure.dsn, spool_dir=False)  # certifi: not trusted
        doubting.capture_envelope(event_envelope("never sent"))
        assert not doubting.flush(5)
        assert [e["message"]["formatted"] for e in secure.events] == ["over tls"]
        for event in secure.events:
            assert_valid_event(event)


def test_pool_gets_keepalive_socket_options_and_client_certificate(tmp_path: Path) -> None:
    dsn = Dsn.parse("https://k@sentry.example.com/1")
    options = Options(
        dsn=dsn,
        keep_alive=True,
        cert_file=str(tmp_path / "client.pem"),
        key_file=str(tmp_path / "client.key"),
        ca_certs=str(tmp_path / "ca.pem"),
    )
    pool = make_pool(options, dsn, timeout_s=3.0)

    settings = pool.connection_pool_kw
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in settings["socket_options"]
    assert settings["cert_file"] == str(tmp_path / "client.pem")
    assert settings["key_file"] == str(tmp_path / "client.key")
    assert settings["ca_certs"] == str(tmp_path / "ca.pem")
    assert settings["timeout"].read_timeout == 3.0

    custom = make_pool(Options(dsn=dsn, socket_options=((6, 1, 1),)), dsn, 3.0)
    assert custom.connection_pool_kw["socket_options"] == [(6, 1, 1)]


def test_a_server_that_keeps_failing_gets_five_attempts_then_send_error(
    collector: Collector, make_transport: MakeTransport
) -> None:
    collector.respond(*[Response(502)] * 5)
    transport = make_transport()
    transport.capture_envelope(event_envelope("refused five times"))
    for _ in range(6):
        transport.flush(2)  # each flush tries a server in backoff at once

    assert [r.status for r in collector.requests if r.event] == [502] * 5
    assert transport.drops.totals() == {(drops.SEND_ERROR, "error"): 1}


def test_an_envelope_that_cannot_be_encoded_is_counted_and_the_worker_goes_on(
    collector: Collector, make_transport: MakeTransport
) -> None:
    transport = make_transport()
    broken = event_envelope("never encoded")
    broken.items[0].json = {"not json": object()}
    transport.capture_envelope(broken)
    transport.capture_envelope(event_envelope("still delivered"))

    assert transport.flush(5)
    assert [e["message"]["formatted"] for e in collector.events] == ["still delivered"]
    assert transport.drops.totals() == {(drops.INTERNAL_SDK_ERROR, "error"): 1}


class _Rendezvous(ThreadingHTTPServer):
    """Answers a request only once ``PARALLEL_REQUESTS`` are in progress together (503 if
    they do not meet within a while), and counts the envelopes it took."""

    def __init__(self) -> None:
        self.met = 0
        self.taken = 0
        self.barrier = threading.Barrier(PARALLEL_REQUESTS, timeout=2.0)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RendezvousHandler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


class _RendezvousHandler(BaseHTTPRequestHandler):
    server: _Rendezvous
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        try:
            self.server.barrier.wait()
        except threading.BrokenBarrierError:
            with self.server.lock:
                self.server.barrier.reset()
            status = 503
        else:
            with self.server.lock:
                self.server.met += 1
                self.server.taken += 1
            status = 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_queued_envelopes_go_out_on_several_connections_at_once(
    make_transport: MakeTransport,
) -> None:
    server = _Rendezvous()
    try:
        transport = make_transport(dsn=f"http://k@127.0.0.1:{server.server_address[1]}/1")
        for number in range(2 * PARALLEL_REQUESTS):
            transport.capture_envelope(event_envelope(f"together {number}"))
        assert transport.flush(60)
    finally:
        server.shutdown()
        server.server_close()
    assert server.taken == 2 * PARALLEL_REQUESTS
    assert server.met == 2 * PARALLEL_REQUESTS
