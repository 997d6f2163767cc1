"""A small shop that fails in the ways real apps do; ``tripwire demo`` runs it as a script.

Usage: ``python demo_app.py DSN``. It reports with ``import tripwire as sentry_sdk``, so the
code is what an app using the official SDK already has.
"""

from __future__ import annotations

import logging
import sys
import threading

import tripwire as sentry_sdk

__all__ = ["main"]

log = logging.getLogger("shop.payments")

PRICES = {"apple": 120, "pear": 90}


class PaymentFailed(Exception):
    """The payment provider could not be reached."""


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


if __name__ == "__main__":
    main(sys.argv[1])
