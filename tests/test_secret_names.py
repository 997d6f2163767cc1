from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tripwire.scrubber import EventScrubber
from tripwire.secret_names import (
    FILTERED,
    KNOWN_SAFE_NAMES,
    SecretNames,
    is_safe_name,
    names_are_safe,
)


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


# Names on which reprs (substring parts) and event keys (whole names and words) disagreed
# before both read secret_names' one list, with the verdict both give now.
NOW_SECRET_IN_BOTH = [
    # filtered in reprs only
    "credential", "cookies", "cookie_jar", "HTTP_COOKIE", "signature", "hmac_signature",
    "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "HTTP_X_FORWARDED_FOR", "real_ip",
    "client_ip_address", "dbpwd", "myjwt", "myapikey", "rsaprivatekey", "jsessionid",
    # filtered in event keys only
    "key", "public_key", "cache_key", "AccessKey", "sid", "sid_list", "connect.sid", "sso",
    "saml", "identity", "PHPSESSID", "symfony",
]  # fmt: skip
NOW_SAFE_IN_BOTH = ["author", "authors", "authority", "unauthorized", "passwort"]


@pytest.mark.parametrize("name", NOW_SECRET_IN_BOTH)
def test_names_one_place_filtered_are_now_filtered_in_reprs_and_keys(name: str) -> None:
    assert not is_safe_name(name)
    assert EventScrubber().is_secret_key(name)


@pytest.mark.parametrize("name", NOW_SAFE_IN_BOTH)
def test_ordinary_words_holding_a_term_are_kept_in_reprs_and_keys(name: str) -> None:
    assert is_safe_name(name)
    assert not EventScrubber().is_secret_key(name)


@given(name=st.text(alphabet=st.sampled_from("aeiksdpwotnrAKSID_-.2"), max_size=14))
def test_reprs_filter_exactly_the_names_the_default_scrubber_filters(name: str) -> None:
    assert is_safe_name(name) is not EventScrubber().is_secret_key(name)


def test_terms_of_several_words_match_those_words_in_a_row() -> None:
    names = SecretNames([], ["ip_address"])

    assert names.is_secret("client_ip_address")
    assert names.is_secret("clientIpAddress")
    assert not names.is_secret("ip_of_address")
    assert not names.is_secret("zip_address")


def test_short_terms_hiding_in_ordinary_words_must_be_whole_words() -> None:
    names = SecretNames([], ["key", "sid", "sso", "pwd", "ssn"])

    for innocent in ("monkey", "inside", "processor", "lesson", "ssnake"):
        assert not names.is_secret(innocent), innocent
    for secret in ("key", "sort-key", "sid", "SSO", "dbpwd", "pwd_hash", "customer_ssn"):
        assert names.is_secret(secret), secret


def test_pii_names_are_kept_by_a_scrubber_sending_pii_but_never_inside_reprs() -> None:
    with_pii = EventScrubber(send_default_pii=True)

    for name in ("client_ip_address", "X-Real-IP", "X-Forwarded-Proto"):
        assert not with_pii.is_secret_key(name), name
        assert EventScrubber().is_secret_key(name), name
        assert not is_safe_name(name), name
    assert with_pii.is_secret_key("X-Forwarded-For")  # in sentry's DEFAULT_DENYLIST


_NAME_PIECES = st.sampled_from(
    ["auth", "Auth", "TOKEN", "ip", "Ip", "address", "Address", "key", "Key", "sid", "pwd",
     "session", "Forwarded", "real", "remote", "Addr", "author", "_", "-", ".", ":", "2", "x",
     "İ", "é", "monkey", "processor"]
)  # fmt: skip


@given(name=st.lists(_NAME_PIECES, max_size=6).map("".join))
def test_the_quick_test_on_the_whole_name_never_hides_a_secret_word(name: str) -> None:
    """Most names are ruled out by one search of the lower-cased name, before word splitting."""
    quick = EventScrubber()._secret_names
    thorough = EventScrubber()._secret_names
    thorough.could_hold = re.compile("")

    assert quick.is_secret(name) is thorough.is_secret(name)
