from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SHOP_SOURCE = textwrap.dedent(
    '''\
    """A small application package, written to disk so frames have real source."""
    import sys


    class Gateway:
        def charge(self, amount):
            token = "t" * 10
            limits = list(range(100))
            raise ConnectionRefusedError(111, "Connection refused")  # RAISE


    def pay(amount):
        gateway = Gateway()
        return gateway.charge(amount)  # CALL


    def hidden_pay(amount):
        __traceback_hide__ = True
        return pay(amount)


    def recurse(n):
        return recurse(n + 1)  # RECURSE


    def deep(n):
        if n == 0:
            return pay(1)
        return deep(n - 1)


    def current_stack(capture):
        marker = "here"
        return capture(sys._getframe())  # STACK
    '''
)


def line_of(marker: str) -> int:
    """1-based line of the shop source holding ``# marker``."""
    for number, line in enumerate(SHOP_SOURCE.splitlines(), start=1):
        if line.endswith(f"# {marker}"):
            return number
    raise LookupError(marker)


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The ``shop.payments`` module, imported from ``tmp_path/shop/payments.py``."""
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "payments.py").write_text(SHOP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    module = importlib.import_module("shop.payments")
    yield module
    for name in ("shop.payments", "shop"):
        sys.modules.pop(name, None)
