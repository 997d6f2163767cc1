from __future__ import annotations

import pytest

from tripwire.dsn import BadDsn, Dsn


def test_sentry_io_dsn_gives_envelope_url_and_org() -> None:
    dsn = Dsn.parse("https://abc@o123.ingest.us.sentry.io/456")
    assert dsn.envelope_url == "https://o123.ingest.us.sentry.io/api/456/envelope/"
    assert dsn.org_id == "123"


def test_path_prefix_and_port_are_kept() -> None:
    dsn = Dsn.parse("http://abc:def@localhost:9000/sentry/prefix/17")
    assert dsn.envelope_url == "http://localhost:9000/sentry/prefix/api/17/envelope/"
    assert dsn.secret_key == "def"


def test_default_port_is_left_out_of_the_url() -> None:
    assert Dsn.parse("https://abc@host:443/5").envelope_url == "https://host/api/5/envelope/"


def test_trailing_slash_is_accepted() -> None:
    assert Dsn.parse("https://abc@host/5/").project_id == "5"


def test_project_id_is_kept_as_written() -> None:
    assert Dsn.parse("https://abc@host/007").project_id == "007"


def test_ipv6_host_keeps_its_brackets() -> None:
    dsn = Dsn.parse("http://abc@[::1]:8000/3")
    assert dsn.envelope_url == "http://[::1]:8000/api/3/envelope/"


def test_str_writes_secret_after_a_colon() -> None:
    assert str(Dsn.parse("http://pub:sec@host:8000/2")) == "http://pub:sec@host:8000/2"


def test_auth_header_lists_key_version_client_then_secret() -> None:
    header = Dsn.parse("http://pub:sec@host/2").auth_header("tripwire.python/0.1.0")
    assert header == (
        "Sentry sentry_key=pub, sentry_version=7, sentry_client=tripwire.python/0.1.0, "
        "sentry_secret=sec"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://abc@host/1", "Unsupported scheme"),
        ("https://host/1", "Missing public key"),
        ("https://abc@/1", "Missing hostname"),
        ("https://abc@host/", "Missing project id"),
        ("https://abc@host:99999/1", "Invalid DSN"),
    ],
)
def test_bad_dsn_names_the_wrong_part(value: str, message: str) -> None:
    with pytest.raises(BadDsn, match=message):
        Dsn.parse(value)
