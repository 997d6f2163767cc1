"""A small shop that fails in the ways real apps do; ``tripwire demo`` runs it as a script.

Usage: ``python demo_app.py DSN``. It reports with ``import tripwire as sentry_sdk`` and,
where tripwire has no HTTP transport yet, falls back to the official ``sentry_sdk``.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from types import ModuleType

__all__ = ["main", "sdk"]

log = logging.getLogger("shop.payments")

PRICES = {"apple": 120, "pear": 90}


class PaymentFailed(Exception):
    """The payment provider could not be reached."""


def sdk() -> ModuleType:
    """tripwire when it can send over HTTP, else the official SDK (same API)."""
    try:
        tripwire = importlib.import_module("tripwire")
        transport = importlib.import_module("tripwire.transport")
        if hasattr(transport, "make_transport") or hasattr(transport, "HttpTransport"):
            return tripwire
    except ImportError:
        pass
    return importlib.import_module("sentry_sdk")


def connect(host: str, port: int) -> None:
    raise ConnectionRefusedError(111, f"Connection refused: {host}:{port}")


def charge(order_id: int, amount_cents: int) -> None:
    gateway = ("payments.internal", 8443)
    try:
        connect(*gateway)
    except OSError as exc:
        raise PaymentFailed(f"could not charge order {order_id} ({amount_cents} cents)") from exc


def price_of(item: str) -> int:
    return PRICES[item]


def parse_quantity(text: str) -> int:
    return int(text)


def nightly_report(orders: list[int]) -> float:
    refunds = 0
    return sum(orders) / refunds


def main(dsn: str) -> None:
    sentry_sdk = sdk()
    sentry_sdk.init(
        dsn=dsn,
        release="shop@1.4.2",
        environment="demo",
        in_app_include=["__main__"],
        include_local_variables=True,
    )
    sentry_sdk.set_user({"id": "u-1001", "email": "ada@example.com"})
    sentry_sdk.set_tag("region", "eu-west")
    sentry_sdk.add_breadcrumb(category="cart", message="cart loaded with 3 items", level="info")

    # 1. A chained exception: the cause and the error it led to, captured by hand.
    try:
        charge(order_id=17, amount_cents=4200)
    except PaymentFailed:
        sentry_sdk.capture_exception()

    # 2. The same bug hit five times: one issue, five events.
    for item in ("apple", "kiwi", "mango", "plum", "fig"):
        try:
            price_of(item)
        except KeyError:
            if item != "apple":
                sentry_sdk.capture_exception()
    try:
        price_of("kiwi")
    except KeyError:
        sentry_sdk.capture_exception()

    # 3. Logging: an error record becomes an event; the template groups both.
    for order_id in (18, 19):
        log.error("payment provider answered %d for order %s", 503, order_id)
    try:
        parse_quantity("three")
    except ValueError:
        log.exception("could not read the quantity field")

    # 4. An exception nobody catches, in a worker thread.
    worker = threading.Thread(target=nightly_report, args=([4200, 1300],), name="reports")
    worker.start()
    worker.join()

    sentry_sdk.flush(timeout=10)
    print(f"sample app sent its errors using {sentry_sdk.__name__}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
