from __future__ import annotations

from collections.abc import Iterator

import pytest

from tripwire import api, scope


@pytest.fixture(autouse=True)
def _fresh_tripwire() -> Iterator[None]:
    """Each test starts with no client and empty scopes, and fails if a guard swallowed."""
    scope._global_scope = None
    scope._isolation_scope.set(None)
    scope._current_scope.set(None)
    api.swallowed.clear()
    yield
    client = scope.get_global_scope().client
    if client is not None:
        client.close(timeout=0)
    scope._global_scope = None
    swallowed = list(api.swallowed)
    api.swallowed.clear()
    assert not swallowed, f"tripwire swallowed internal errors: {swallowed!r}"
