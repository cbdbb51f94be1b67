"""Errors that carry a message meant for the person who caused them."""

from __future__ import annotations


class QunyunError(Exception):
    """Base of every error Qunyun reports to a user instead of a traceback."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(QunyunError):
    """The environment or settings are not usable."""

    exit_code = 2


class NotFound(QunyunError):
    """A named object does not exist (or is outside the caller's scope)."""


class InvalidInput(QunyunError):
    """A parameter or a file cannot be used as given."""


class Conflict(QunyunError):
    """The request contradicts the current state (e.g. a slug already taken)."""


class Unauthenticated(QunyunError):
    """The caller did not prove who they are (no, bad or expired credentials)."""


class Forbidden(QunyunError):
    """The caller is known but their role may not do this."""


class Throttled(QunyunError):
    """Too many attempts in a short time (e.g. failed logins); try again later."""
