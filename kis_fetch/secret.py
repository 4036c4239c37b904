"""A string wrapper that keeps credentials out of reprs, logs and tracebacks."""

from __future__ import annotations


class Secret:
    """An app secret or access token; `str()` and `repr()` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the value, for the one place that sends it on the wire."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('****')" if self._value else "Secret('')"

    __str__ = __repr__


def mask(value: str) -> str:
    """Return `value` with all but its first four characters hidden."""
    if len(value) <= 8:
        return "****"
    return value[:4] + "*" * 8
