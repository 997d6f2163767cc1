from __future__ import annotations

import pytest

import tripwire
from tripwire.dsn import BadDsn
from tripwire.options import Options, parse_bool


def test_unknown_option_raises_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="samplerate"):
        tripwire.init(samplerate=0.5)


def test_sample_rate_out_of_range_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"sample_rate must be between 0.0 and 1.0, got 2"):
        tripwire.init(sample_rate=2)


def test_invalid_dsn_raises_at_init() -> None:
    with pytest.raises(BadDsn):
        tripwire.init("not a dsn")


def test_bad_max_request_body_size_lists_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="never, small, medium, always"):
        Options(max_request_body_size="huge")


def test_tracing_options_of_the_official_sdk_are_accepted() -> None:
    options = Options.from_init(None, {"traces_sample_rate": 1.0, "profiles_sample_rate": 0.1})
    assert options.ignored["traces_sample_rate"] == 1.0


def test_environment_variables_fill_dsn_release_environment_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTRY_DSN", "https://k@example.com/9")
    monkeypatch.setenv("SENTRY_RELEASE", "app@1.2")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    monkeypatch.setenv("SENTRY_DEBUG", "yes")
    options = Options.from_init(None, {})
    assert options.dsn is not None
    assert options.dsn.project_id == "9"
    assert (options.release, options.environment, options.debug) == ("app@1.2", "staging", True)


def test_explicit_options_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    assert Options.from_init(None, {"environment": "dev"}).environment == "dev"


def test_bad_boolean_env_value_warns_and_defaults(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SENTRY_DEBUG", "maybe")
    assert Options.from_init(None, {}).debug is False
    assert "SENTRY_DEBUG" in caplog.text


@pytest.mark.parametrize(
    ("raw", "value"), [("TRUE", True), ("on", True), ("0", False), ("No", False), ("x", None)]
)
def test_boolean_env_parsing_follows_sentry(raw: str, value: bool | None) -> None:
    assert value is parse_bool(raw)


def test_client_options_is_a_read_only_view_with_the_dsn_as_string() -> None:
    tripwire.init("https://k@example.com/9", transport=lambda event: None)
    options = tripwire.get_client().options
    assert options["dsn"] == "https://k@example.com/9"
    assert options["sample_rate"] == 1.0
    with pytest.raises(TypeError):
        options["dsn"] = "x"  # type: ignore[index]


def test_max_event_bytes_below_the_skeleton_size_is_refused() -> None:
    with pytest.raises(ValueError, match="max_event_bytes must be at least 1024"):
        Options(max_event_bytes=100)
