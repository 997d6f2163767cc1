from __future__ import annotations

import pytest

from tripwire.secret_names import FILTERED, KNOWN_SAFE_NAMES, is_safe_name, names_are_safe


@pytest.mark.parametrize(
    "name",
    ["password", "DB_PASSWORD", "Authorization", b"x-api-key", "session_id", "csrftoken",
     "X-Forwarded-For", b"x-real-ip", "REMOTE_ADDR", "stripe_secret", "jwt"],
)  # fmt: skip
def test_secret_names_match_in_any_case_and_as_bytes(name: str | bytes) -> None:
    assert not is_safe_name(name)


@pytest.mark.parametrize("name", ["keyboard", "monkey", "inside", "processor", "user", 42, None])
def test_ordinary_names_and_non_strings_are_safe(name: object) -> None:
    assert is_safe_name(name)


def test_only_safe_names_are_remembered() -> None:
    assert names_are_safe(["field_1", "field_2"])
    assert {"field_1", "field_2"} <= KNOWN_SAFE_NAMES
    assert not names_are_safe(["field_1", "api_token"])
    assert "api_token" not in KNOWN_SAFE_NAMES


def test_filtered_stands_in_with_its_repr() -> None:
    assert repr(FILTERED) == "[Filtered]"
