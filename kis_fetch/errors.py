"""Errors and exit codes.

Every error the tool reports to a user derives from KisFetchError::

    KisFetchError
    ├── InputError        bad ticker, unreadable file, bad option value (exit 2)
    ├── ConfigError       missing or rejected credentials, wrong server (exit 3)
    └── ApiError          KIS rejected one request with a msg_cd (that ticker fails)
        └── NotFoundError KIS does not quote the symbol (that ticker fails)

The CLI maps each class to its exit code in one place and prints the message
alone, without a traceback. Any other exception is a bug in kis-fetch and
exits EXIT_SOFTWARE (70), so scripts can tell it from failed tickers (1).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
# An internal error, as EX_SOFTWARE in BSD's sysexits.h.
EXIT_SOFTWARE = 70
EXIT_SIGINT = 130
EXIT_BROKEN_PIPE = 141
EXIT_SIGTERM = 143


class KisFetchError(Exception):
    """Base class of the errors kis-fetch reports to the user."""

    exit_code = EXIT_PARTIAL


class InputError(KisFetchError):
    """Invalid input: a ticker, a file or an option value."""

    exit_code = EXIT_USAGE


class ConfigError(KisFetchError):
    """Missing, invalid or rejected configuration or credentials."""

    exit_code = EXIT_CONFIG


class ApiError(KisFetchError):
    """A KIS response that fails one request, with its msg_cd and msg1."""

    def __init__(self, message: str, *, msg_cd: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.msg_cd = msg_cd
        self.status = status


class NotFoundError(ApiError):
    """KIS returned no quote for the symbol."""

    def __init__(self, message: str = "not found") -> None:
        super().__init__(message)
