"""Client options: one frozen dataclass holding each default, env fallback and check.

``init()`` is the one place tripwire raises: an unknown option is a ``TypeError`` and a bad
value a ``ValueError``, each naming the option and what it accepts. A bad environment value
only warns and falls back to the default.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from tripwire.dsn import Dsn

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "MIN_EVENT_BYTES", "Options", "OptionsView", "parse_bool"]

logger = logging.getLogger("tripwire")

DEFAULT_MAX_EVENT_BYTES = 1_000_000  # Relay's event item limit is 1 MiB (protocol.md §5.4)
MIN_EVENT_BYTES = 1024  # room for the skeleton the byte budget falls back to (budget.py)
REQUEST_BODY_SIZES = ("never", "small", "medium", "always")

# Environment variables the CI providers set to the commit being built (scopes-and-options §4).
# The official SDK also runs `git rev-parse HEAD` at init; a subprocess there is too costly.
_RELEASE_ENV = (
    "SENTRY_RELEASE",
    "HEROKU_BUILD_COMMIT",
    "HEROKU_SLUG_COMMIT",
    "SOURCE_VERSION",
    "CODEBUILD_RESOLVED_SOURCE_VERSION",
    "CIRCLE_SHA1",
    "GAE_DEPLOYMENT_ID",
    "K_REVISION",
)

# Options of the official SDK that concern tracing, profiling, logs or metrics: accepted so that
# code written for it runs unchanged, and otherwise ignored (tripwire captures errors).
IGNORED_OPTIONS = frozenset(
    {
        "_experiments", "before_send_log", "before_send_metric", "before_send_span",
        "before_send_transaction", "data_collection", "db_query_source_threshold_ms",
        "enable_backpressure_handling", "enable_db_query_source", "enable_http_request_source",
        "enable_logs", "enable_metrics", "enable_tracing", "functions_to_trace",
        "http_request_source_threshold_ms", "ignore_spans", "instrumenter", "profile_lifecycle",
        "profile_session_sample_rate", "profiler_mode", "profiles_sample_rate",
        "profiles_sampler", "propagate_traces", "strict_trace_continuation",
        "stream_gen_ai_spans", "trace_ignore_status_codes", "trace_lifecycle",
        "trace_propagation_targets", "traces_sample_rate", "traces_sampler",
        "auto_session_tracking",
    }
)  # fmt: skip

_TRUE = frozenset({"true", "t", "y", "yes", "on", "1"})
_FALSE = frozenset({"false", "f", "n", "no", "off", "0"})


def parse_bool(value: str | None) -> bool | None:
    """Sentry's boolean env parsing: ``true t y yes on 1`` / ``false f n no off 0``."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _env_bool(name: str) -> bool | None:
    raw = os.environ.get(name)
    parsed = parse_bool(raw)
    if raw is not None and parsed is None:
        logger.warning("ignoring %s=%r: expected true/false", name, raw)
    return parsed


def _env_release() -> str | None:
    for name in _RELEASE_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _check_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {type(value).__name__}")


def _check_str_list(name: str, value: object) -> None:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must be a list of strings, got item {item!r}")


def _check_number(name: str, value: object, low: float, high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


@dataclass(frozen=True)
class Options:
    """Every option that concerns error capture (scopes-and-options.md §4), typed."""

    dsn: Dsn | None = None
    debug: bool = False
    release: str | None = None
    environment: str = "production"
    dist: str | None = None
    server_name: str | None = None
    sample_rate: float = 1.0
    error_sampler: Callable[..., object] | None = None
    before_send: Callable[..., object] | None = None
    before_breadcrumb: Callable[..., object] | None = None
    max_breadcrumbs: int = 100
    attach_stacktrace: bool = False
    include_local_variables: bool = True
    include_source_context: bool = True
    max_value_length: int | None = None
    send_default_pii: bool = False
    event_scrubber: object | None = None
    in_app_include: tuple[str, ...] = ()
    in_app_exclude: tuple[str, ...] = ()
    project_root: str = ""
    ignore_errors: tuple[type[BaseException] | str, ...] = ()
    add_full_stack: bool = False
    max_stack_frames: int | None = 100
    shutdown_timeout: float = 2.0  # seconds (sentry's name, no suffix)
    transport: object | None = None
    transport_queue_size: int = 100
    http_proxy: str | None = None
    https_proxy: str | None = None
    proxy_headers: Mapping[str, str] | None = None
    ca_certs: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keep_alive: bool = False
    socket_options: tuple[tuple[int, int, int | bytes], ...] | None = None
    send_client_reports: bool = True
    integrations: tuple[object, ...] = ()
    default_integrations: bool = True
    auto_enabling_integrations: bool = True
    disabled_integrations: tuple[object, ...] = ()
    max_request_body_size: str = "medium"
    custom_repr: Callable[[object], str | None] | None = None
    spotlight: bool | str | None = None
    org_id: str | None = None
    # tripwire's own options
    spool_dir: str | bool | None = None  # None: per-user cache folder; False: no spool
    max_spool_bytes: int = 64 * 1024 * 1024
    max_queue_bytes: int = 16 * 1024 * 1024
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    on_drop: Callable[[str, str, int], object] | None = None  # (reason, category, quantity)
    ignored: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_number("sample_rate", self.sample_rate, 0.0, 1.0)
        _check_number("shutdown_timeout", self.shutdown_timeout, 0.0)
        if isinstance(self.max_event_bytes, int) and self.max_event_bytes < MIN_EVENT_BYTES:
            raise ValueError(
                f"max_event_bytes must be at least {MIN_EVENT_BYTES}, got {self.max_event_bytes!r}"
            )
        for name in ("max_breadcrumbs", "transport_queue_size", "max_event_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        for name in ("max_value_length", "max_stack_frames"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 4
            ):
                raise ValueError(f"{name} must be None or a whole number >= 4, got {value!r}")
        if self.max_request_body_size not in REQUEST_BODY_SIZES:
            raise ValueError(
                f"max_request_body_size must be one of {', '.join(REQUEST_BODY_SIZES)}, "
                f"got {self.max_request_body_size!r}"
            )
        for name in ("error_sampler", "before_send", "before_breadcrumb", "custom_repr"):
            _check_callable(name, getattr(self, name))
        _check_callable("on_drop", self.on_drop)
        if self.event_scrubber is not None and not callable(
            getattr(self.event_scrubber, "scrub_event", None)
        ):
            raise TypeError("event_scrubber must have a scrub_event(event) method")
        _check_str_list("in_app_include", self.in_app_include)
        _check_str_list("in_app_exclude", self.in_app_exclude)
        for item in self.ignore_errors:
            if not isinstance(item, str) and not (
                isinstance(item, type) and issubclass(item, BaseException)
            ):
                raise TypeError(f"ignore_errors takes exception classes or names, got {item!r}")

    @classmethod
    def from_init(cls, dsn: object, kwargs: Mapping[str, Any]) -> Options:
        """Build options from ``init()``'s arguments and the environment."""
        known = {f.name for f in fields(cls)} - {"ignored"}
        unknown = sorted(set(kwargs) - known - IGNORED_OPTIONS)
        if unknown:
            raise TypeError(f"Unknown option(s): {', '.join(unknown)}")
        values = {k: v for k, v in kwargs.items() if k in known}
        ignored = {k: v for k, v in kwargs.items() if k in IGNORED_OPTIONS}
        if dsn is None:
            dsn = kwargs.get("dsn")
        if dsn is None:
            dsn = os.environ.get("SENTRY_DSN") or None
        values["dsn"] = Dsn.parse(dsn) if isinstance(dsn, str) and dsn.strip() else None
        if dsn is not None and not isinstance(dsn, str):
            raise TypeError(f"dsn must be a string, got {type(dsn).__name__}")
        _fill_from_env(values)
        for name in (
            "in_app_include", "in_app_exclude", "ignore_errors", "integrations",
            "disabled_integrations", "socket_options",
        ):  # fmt: skip
            if values.get(name) is not None:
                if isinstance(values[name], (str, bytes)):
                    raise TypeError(f"{name} must be a list, got {values[name]!r}")
                values[name] = tuple(values[name])
            elif name in values:
                values[name] = () if name != "socket_options" else None
        for name in ("release", "environment", "dist", "server_name"):
            if values.get(name) is not None:
                values[name] = str(values[name]).strip()
        if values.get("server_name") is None:
            values.pop("server_name", None)
        if values.get("environment") is None:
            values.pop("environment", None)
        for name in ("debug", "send_default_pii", "keep_alive"):
            if values.get(name) is None:
                values.pop(name, None)
        if values.get("project_root") is None:
            values["project_root"] = os.getcwd()
        return cls(**values, ignored=ignored)


def _fill_from_env(values: dict[str, Any]) -> None:
    if values.get("release") is None:
        values["release"] = _env_release()
    if values.get("environment") is None:
        values["environment"] = os.environ.get("SENTRY_ENVIRONMENT") or "production"
    if values.get("debug") is None:
        values["debug"] = _env_bool("SENTRY_DEBUG") or False
    if values.get("keep_alive") is None:
        values["keep_alive"] = _env_bool("SENTRY_KEEP_ALIVE") or False
    if values.get("spotlight") is None:
        raw = os.environ.get("SENTRY_SPOTLIGHT")
        if raw:
            flag = parse_bool(raw)
            values["spotlight"] = raw if flag is None else flag


class OptionsView(Mapping[str, object]):
    """Read-only ``client.options["dsn"]`` view, as sentry_sdk offers it."""

    def __init__(self, options: Options) -> None:
        self._options = options

    def __getitem__(self, key: str) -> object:
        if key in self._options.ignored:
            return self._options.ignored[key]
        if key == "ignored" or not hasattr(self._options, key):
            raise KeyError(key)
        value = getattr(self._options, key)
        if key == "dsn":
            return None if value is None else str(value)
        return value

    def __iter__(self) -> Iterator[str]:
        yield from (f.name for f in fields(self._options) if f.name != "ignored")
        yield from self._options.ignored

    def __len__(self) -> int:
        return sum(1 for _ in self)
