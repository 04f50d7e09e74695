"""Errors that the CLI reports as one line and a non-zero exit code.

Every expected error derives from :class:`LivemerError` (defined at the bottom
layer, :mod:`feature_adapters.errors`, so ``model/`` and ``feature_adapters/``
raise it too); ``cli.py`` catches that one type.
"""

from __future__ import annotations

from feature_adapters.errors import LivemerError


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of an exception's message (for one-line reports); ``default`` (else the exception's
    type name) when the message is empty."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if default is None else default


__all__ = ["LivemerError", "first_line"]
