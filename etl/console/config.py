"""What one console serves and how: the main store, the bind address, the token, the limits."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from etl.errors import ConfigError
from etl.i18n import Said
from etl.store import resolve_target

MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # a catalog export of a big shop is a few MB; more is a mistake
MIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    """Whether an address or host name only reaches this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere: treat it as the network


def size_text(n: int) -> str:
    """A size as a person reads it.

    >>> size_text(1000), size_text(64 * 1024 * 1024)
    ('1,000 bytes', '64 MB')
    """
    return f"{n:,} bytes" if n < 1_048_576 else f"{n / 1_048_576:.3g} MB"


def new_token() -> str:
    """A random token for a console bound to the network."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class ConsoleConfig:
    """One console: the main store it serves (None: $POSYNC_DB or ./posync.duckdb), where it listens, its token."""

    db: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    open_browser: bool = False
    max_upload_bytes: int = MAX_UPLOAD_BYTES

    @property
    def target(self) -> str:
        return resolve_target(self.db)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def checked(self) -> ConsoleConfig:
        """The config, or ConfigError (exit 2) when it would expose the store unsafely."""
        if self.token is not None and len(self.token) < MIN_TOKEN:
            raise ConfigError(Said("--token must be at least %(n)s characters long; use --new-token to have one "
                                   "generated.", n=MIN_TOKEN))
        if not self.loopback and not self.token:
            raise ConfigError(Said("--host %(host)s lets other machines reach the console, so it needs a token: "
                                   "pass --token T (16 or more characters) or --new-token, or bind to 127.0.0.1.",
                                   host=self.host))
        return self
