"""The HTTP transport: envelopes to the DSN's envelope endpoint, from one worker thread.

Without a proxy, requests go over kept-alive connections of our own (connection.py,
inflight.py: up to ``PARALLEL_REQUESTS`` at once when envelopes queue up). With a proxy, or
for Spotlight, through urllib3, imported on the worker, never at ``import tripwire``. Network
errors stop in ``post()`` and ``inflight.py``: the worker decides from an ``Outcome`` value.
Optionally, every envelope also goes to a Spotlight sidecar (scopes-and-options.md §4).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tripwire._version import SDK_NAME, VERSION
from tripwire.drops import DropCounter
from tripwire.dsn import Dsn
from tripwire.envelope import Envelope
from tripwire.options import Options, parse_bool
from tripwire.transport.base import Transport
from tripwire.transport.connection import Connection, tls_context
from tripwire.transport.inflight import Connections, InFlight
from tripwire.transport.outbound import (
    Outbound,
    Outcome,
    RateLimited,
    Rejected,
    Retry,
    Sent,
    stamp_sent_at,
)
from tripwire.transport.ratelimits import RateLimits
from tripwire.transport.spool import Spool, default_spool_root
from tripwire.transport.worker import Worker

if TYPE_CHECKING:
    import urllib3

__all__ = [
    "DEFAULT_SPOTLIGHT_URL",
    "HttpSender",
    "HttpTransport",
    "choose_proxy",
    "make_connection",
    "make_pool",
    "make_transport",
    "outcome_of",
    "post",
    "spotlight_url",
]

logger = logging.getLogger(__name__)

DEFAULT_SPOTLIGHT_URL = "http://localhost:8969/stream"
USER_AGENT = f"{SDK_NAME}/{VERSION}"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
SPOTLIGHT_TIMEOUT_S = 2.0
PREPARED_FOR_S = 1.0  # a body prepared ahead longer ago is stamped again (sent_at)
# Level 1 against 6, on the worker: a 2.7 KB message event 36 us against 55 us and 5% more
# bytes; a 43 KB event 25 frames deep 137 us against 562 us and 17% more (level 9: 1063 us).
GZIP_LEVEL = 1
PARALLEL_REQUESTS = 3  # requests in flight at once when envelopes queue up (no proxy)
DEFAULT_SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)  # as urllib3's
KEEPALIVE_OPTIONS = (("TCP_KEEPIDLE", 45), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6))


def spotlight_url(options: Options) -> str | None:
    """Where Spotlight listens: the option, ``True`` meaning the default sidecar."""
    value = options.spotlight
    if isinstance(value, str):
        flag = parse_bool(value)
        if flag is None:
            return value.strip() or None
        value = flag
    return DEFAULT_SPOTLIGHT_URL if value else None


def _is_no_proxy(host: str, no_proxy: str) -> bool:
    host = host.lower()
    for entry in no_proxy.replace(" ", "").split(","):
        entry = entry.lower().lstrip(".")
        if entry.startswith("[") and "]" in entry:
            entry = entry[1 : entry.index("]")]
        elif entry.count(":") == 1:
            entry = entry.split(":")[0]  # a port does not matter here
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def choose_proxy(options: Options, dsn: Dsn) -> str | None:
    """The proxy for ``dsn`` (protocol.md §6): options first, then the environment.

    An option set to ``""`` disables that proxy, environment included; environment proxies
    are skipped for hosts listed in ``no_proxy``.
    """
    import urllib.request

    environment = urllib.request.getproxies_environment()
    bypass = _is_no_proxy(dsn.host, environment.get("no", ""))
    proxy: str | None = None
    if dsn.scheme == "https" and options.https_proxy != "":
        proxy = options.https_proxy or (None if bypass else environment.get("https"))
    if not proxy and options.http_proxy != "":
        proxy = options.http_proxy or (None if bypass else environment.get("http"))
    return proxy or None


def _socket_options(options: Options) -> list[tuple[int, int, int | bytes]]:
    chosen: list[tuple[int, int, int | bytes]] = list(
        options.socket_options if options.socket_options is not None else DEFAULT_SOCKET_OPTIONS
    )
    if options.keep_alive:
        chosen.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
        for name, value in KEEPALIVE_OPTIONS:
            if hasattr(socket, name):
                chosen.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return chosen


def _ca_certs(options: Options) -> str:
    import certifi

    return (
        options.ca_certs
        or os.environ.get("SSL_CERT_FILE")
        or os.environ.get("REQUESTS_CA_BUNDLE")
        or certifi.where()
    )


def make_connection(options: Options, dsn: Dsn, timeout_s: float) -> Connection:
    """The direct connection to ``dsn``'s host (no proxy): TLS checked, socket options set."""
    tls = None
    if dsn.scheme == "https":
        cert_file = options.cert_file or os.environ.get("CLIENT_CERT_FILE")
        key_file = options.key_file or os.environ.get("CLIENT_KEY_FILE")
        tls = tls_context(_ca_certs(options), cert_file, key_file)
    return Connection(
        dsn.host,
        dsn.port,
        timeout_s=timeout_s,
        connect_timeout_s=min(CONNECT_TIMEOUT_S, timeout_s),
        socket_options=_socket_options(options),
        tls=tls,
    )


def make_pool(options: Options, dsn: Dsn, timeout_s: float) -> urllib3.PoolManager:
    """A connection pool for ``dsn``: TLS checked, proxy and socket options applied."""
    import urllib3

    ca_certs = _ca_certs(options)
    settings: dict[str, Any] = {
        "num_pools": 2,
        "maxsize": 2,
        "timeout": urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, timeout_s), read=timeout_s),
        "retries": False,
        "cert_reqs": "CERT_REQUIRED",
        "ca_certs": ca_certs,
        "cert_file": options.cert_file or os.environ.get("CLIENT_CERT_FILE"),
        "key_file": options.key_file or os.environ.get("CLIENT_KEY_FILE"),
        "socket_options": _socket_options(options),
    }
    proxy = choose_proxy(options, dsn)
    if proxy is None:
        return urllib3.PoolManager(**settings)
    if proxy.startswith("socks"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError:
            logger.warning("proxy %s needs PySocks; sending directly", proxy)
            return urllib3.PoolManager(**settings)
        return SOCKSProxyManager(proxy, **settings)
    headers = dict(options.proxy_headers or {})
    return urllib3.ProxyManager(proxy, proxy_headers=headers or None, **settings)


def post(
    pool: urllib3.PoolManager,
    url: str,
    body: bytes,
    headers: dict[str, str],
    limits: RateLimits,
) -> Outcome:
    """POST ``body``; urllib3's exceptions end here and become an ``Outcome``."""
    import urllib3

    try:
        response = pool.request("POST", url, body=body, headers=headers)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return Retry(f"{type(exc).__name__}: {exc}", is_network=True)
    return outcome_of(response.status, response.headers, response.data, limits)


def outcome_of(status: int, headers: Mapping[str, str], body: bytes, limits: RateLimits) -> Outcome:
    """What an answer means (protocol.md §7): limits recorded first, for any status."""
    limits.update(status, headers)
    if 200 <= status < 300:
        return Sent()
    if status == 429:
        return RateLimited(status)
    if status >= 500:
        return Retry(f"server answered {status}", is_network=False)
    logger.warning("server answered %d: %r", status, body[:500])
    return Rejected(status)


def _prepare(outbound: Outbound) -> None:
    import gzip

    stamped = stamp_sent_at(outbound.body, time.time())
    outbound.wire = (time.monotonic(), gzip.compress(stamped, GZIP_LEVEL, mtime=0))


def _request_body(outbound: Outbound) -> bytes:
    """The gzipped body with ``sent_at`` now: the one prepared ahead, unless it is stale."""
    prepared, outbound.wire = outbound.wire, None
    if prepared is None or time.monotonic() - prepared[0] > PREPARED_FOR_S:
        _prepare(outbound)
        prepared, outbound.wire = outbound.wire, None
    assert prepared is not None
    return prepared[1]


class HttpSender:
    """The network side of the worker: one pool to the DSN, one to Spotlight."""

    def __init__(
        self, options: Options, limits: RateLimits, timeout_s: float = READ_TIMEOUT_S
    ) -> None:
        self._options = options
        self._dsn = options.dsn
        self._limits = limits
        self._timeout_s = timeout_s
        self.has_destination = self._dsn is not None
        self._headers = {
            "Content-Type": "application/x-sentry-envelope",
            "Content-Encoding": "gzip",
            "User-Agent": USER_AGENT,
        }
        if self._dsn is not None:
            self._headers["X-Sentry-Auth"] = self._dsn.auth_header(USER_AGENT)
        self._spotlight = spotlight_url(options)
        self._spotlight_retry_at = 0.0
        self._spotlight_delay = 0.0
        self._target = ""  # the envelope URL's path, for the direct connection
        if self._dsn is not None:
            self._target = self._dsn.envelope_url[len(f"{self._dsn.scheme}://{self._dsn.netloc}") :]
        self._pool: urllib3.PoolManager | None = None
        self._connections: Connections | None = None
        self._use_pool: bool | None = None
        self._spotlight_pool: urllib3.PoolManager | None = None

    def prepare(self) -> None:
        """Import what sending needs and build the pool (worker thread, under a fork guard)."""
        import email.utils  # noqa: F401  (Retry-After dates)
        import gzip  # noqa: F401
        import urllib.request  # noqa: F401

        "localhost".encode("idna")  # loads the codec now, not in the middle of a request
        if self._is_proxied():
            import urllib3  # noqa: F401

    @property
    def parallel(self) -> int:
        """How many requests may be in flight at once (one through a proxy)."""
        return 1 if self._is_proxied() else PARALLEL_REQUESTS

    def _is_proxied(self) -> bool:
        if self._use_pool is None:  # decided on the worker: choose_proxy imports urllib
            self._use_pool = self._dsn is not None and bool(choose_proxy(self._options, self._dsn))
        return self._use_pool

    def reset(self) -> None:
        """Forget the connections (after a fork, the sockets belong to the parent)."""
        self._pool = None
        self._connections = None
        self._spotlight_pool = None

    def close(self) -> None:
        """Close the kept-alive connections (the worker's last act)."""
        connections, self._connections = self._connections, None
        if connections is not None:
            connections.close()

    def prepare_body(self, outbound: Outbound) -> None:
        """Stamp and gzip ``outbound`` ahead of its turn (used within ``PREPARED_FOR_S``)."""
        _prepare(outbound)

    def send(self, outbound: Outbound, meanwhile: Callable[[], None] | None = None) -> Outcome:
        """Send ``outbound``; ``meanwhile`` runs while the server works on it."""
        return self.start(outbound).finish(meanwhile)

    def start(self, outbound: Outbound) -> InFlight:
        """Write the request for ``outbound``; the answer is read by ``finish()``."""
        if self._dsn is None:
            return InFlight(Sent())
        body = _request_body(outbound)
        if self._is_proxied():  # a proxy: urllib3 knows CONNECT, SOCKS and TLS to the proxy
            if self._pool is None:
                self._pool = make_pool(self._options, self._dsn, self._timeout_s)
            url = self._dsn.envelope_url
            return InFlight(post(self._pool, url, body, self._headers, self._limits))
        if self._connections is None:
            dsn, options, timeout_s = self._dsn, self._options, self._timeout_s
            self._connections = Connections(lambda: make_connection(options, dsn, timeout_s))
        return self._connections.start(self._target, body, self._headers, self._read_answer)

    def _read_answer(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        return outcome_of(status, headers, body, self._limits)

    def mirror(self, outbound: Outbound) -> None:
        """Best effort copy to Spotlight; on failure it is skipped for a while (1 s to 60 s)."""
        if self._spotlight is None or time.monotonic() < self._spotlight_retry_at:
            return
        import urllib3

        if self._spotlight_pool is None:
            self._spotlight_pool = urllib3.PoolManager(
                num_pools=1,
                retries=False,
                timeout=urllib3.Timeout(total=SPOTLIGHT_TIMEOUT_S),
            )
        body = stamp_sent_at(outbound.body, time.time())
        headers = {"Content-Type": "application/x-sentry-envelope", "User-Agent": USER_AGENT}
        outcome = post(self._spotlight_pool, self._spotlight, body, headers, RateLimits())
        if isinstance(outcome, Sent):
            self._spotlight_delay = 0.0
            return
        self._spotlight_delay = min(60.0, max(1.0, self._spotlight_delay * 2))
        self._spotlight_retry_at = time.monotonic() + self._spotlight_delay
        logger.debug("spotlight at %s unreachable: %s", self._spotlight, outcome)


def _make_spool(options: Options) -> Spool | None:
    if options.dsn is None or options.spool_dir is False:
        return None
    given = options.spool_dir
    root = Path(given) if isinstance(given, str) else default_spool_root()
    return Spool.for_dsn(root, str(options.dsn), options.max_spool_bytes)


class HttpTransport(Transport):
    """Delivers envelopes over HTTP from a background worker; nothing is dropped silently.

    ``capture_envelope`` is O(1) on the caller's thread and never blocks or raises.
    """

    def __init__(
        self,
        options: Options,
        drops: DropCounter | None = None,
        *,
        timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        super().__init__(options)
        self.drops = drops if drops is not None else DropCounter(options.on_drop)
        limits = RateLimits()
        self._sender = HttpSender(options, limits, timeout_s)
        self._spool = _make_spool(options)
        self._worker = Worker(
            self._sender,
            self._spool,
            self.drops,
            limits=limits,
            send_client_reports=options.send_client_reports,
            max_queue_bytes=options.max_queue_bytes,
            min_inbox=options.transport_queue_size,
            shutdown_timeout=options.shutdown_timeout,
            debug=options.debug,
        )
        if self._spool is not None and self._spool.has_pending():
            self._worker.start()  # replay what an earlier process left, at once

    @property
    def worker(self) -> Worker:
        return self._worker

    @property
    def spool(self) -> Spool | None:
        return self._spool

    def capture_envelope(self, envelope: Envelope) -> None:
        """Queue ``envelope`` for the worker. O(1); never blocks, never raises."""
        self._worker.submit(envelope)

    def flush(self, timeout: float, callback: Callable[[int, float], None] | None = None) -> bool:
        """Wait up to ``timeout`` s for queued and in-flight envelopes; True when all went out."""
        return self._worker.flush(timeout, callback)

    def close(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` s, then spool what is left and stop the worker."""
        return self._worker.close(timeout)

    def kill(self) -> None:
        self._worker.close(0.0)


def make_transport(options: Options, drops: DropCounter) -> Transport | None:
    """The transport ``init()`` uses: HTTP to the DSN and/or Spotlight; None when neither."""
    if options.dsn is None and spotlight_url(options) is None:
        return None
    return HttpTransport(options, drops)
