"""The one root of livemer's expected errors.

Every error a user can cause (a corrupt file, a missing device, an unknown
word, a checkpoint that does not fit) derives from :class:`LivemerError`; the
command line reports one as ``livemer: error: <first line>`` and exits with its
``exit_code``. Anything else is a bug. The root lives in the lowest layer
(``feature_adapters`` imports nothing of livemer's), so ``model/`` and
``feature_adapters/`` can raise it without importing the application;
``livemer.errors`` re-exports it.
"""

from __future__ import annotations


class LivemerError(Exception):
    """A user-facing error: printed as ``livemer: error: <message>``, exit code ``exit_code`` (default 2)."""

    exit_code: int = 2

    def __init__(self, *args, exit_code: int | None = None):
        super().__init__(*args)
        if exit_code is not None:
            self.exit_code = int(exit_code)
