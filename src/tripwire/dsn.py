"""DSN parsing (protocol.md §1), with the official SDK's warts fixed.

A trailing slash is accepted, the project id is kept as written, IPv6 hosts keep their
brackets and ``str(dsn)`` writes ``public:secret@host``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["BadDsn", "Dsn"]

_ORG_HOST = re.compile(r"^o(\d+)\.")
_DEFAULT_PORTS = {"http": 80, "https": 443}
PROTOCOL_VERSION = 7


class BadDsn(ValueError):
    """The DSN cannot be used; the message says which part is wrong."""


@dataclass(frozen=True)
class Dsn:
    scheme: str
    public_key: str
    secret_key: str | None
    host: str
    port: int
    path_prefix: str  # always starts and ends with "/"
    project_id: str
    org_id: str | None = None

    @classmethod
    def parse(cls, value: str) -> Dsn:
        """Parse ``value``; raises ``BadDsn`` naming the part that is wrong."""
        if not isinstance(value, str):
            raise BadDsn(f"DSN must be a string, got {type(value).__name__}")
        try:
            parts = urlsplit(value.strip())
            port = parts.port
        except ValueError as exc:
            raise BadDsn(f"Invalid DSN {value!r}: {exc}") from None
        if parts.scheme not in _DEFAULT_PORTS:
            raise BadDsn(f"Unsupported scheme {parts.scheme!r} in DSN: use http or https")
        if not parts.hostname:
            raise BadDsn(f"Missing hostname in DSN {value!r}")
        if not parts.username:
            raise BadDsn(f"Missing public key in DSN {value!r}")
        segments = parts.path.rstrip("/").split("/")
        project_id = segments[-1]
        if not project_id:
            raise BadDsn(f"Missing project id in DSN {value!r}")
        prefix = "/".join(segments[:-1]) + "/"
        if not prefix.startswith("/"):
            prefix = "/" + prefix
        org = _ORG_HOST.match(parts.hostname)
        return cls(
            scheme=parts.scheme,
            public_key=parts.username,
            secret_key=parts.password,
            host=parts.hostname,
            port=port if port is not None else _DEFAULT_PORTS[parts.scheme],
            path_prefix=prefix,
            project_id=project_id,
            org_id=org.group(1) if org else None,
        )

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if _DEFAULT_PORTS[self.scheme] == self.port:
            return host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path_prefix}"

    @property
    def envelope_url(self) -> str:
        return f"{self.base_url}api/{self.project_id}/envelope/"

    @property
    def store_url(self) -> str:
        return f"{self.base_url}api/{self.project_id}/store/"

    def auth_header(self, client: str) -> str:
        """The ``X-Sentry-Auth`` value (protocol.md §3), ``client`` as ``name/version``."""
        header = (
            f"Sentry sentry_key={self.public_key}, sentry_version={PROTOCOL_VERSION}, "
            f"sentry_client={client}"
        )
        if self.secret_key:
            header += f", sentry_secret={self.secret_key}"
        return header

    def __str__(self) -> str:
        userinfo = self.public_key
        if self.secret_key:
            userinfo += f":{self.secret_key}"
        return f"{self.scheme}://{userinfo}@{self.netloc}{self.path_prefix}{self.project_id}"
