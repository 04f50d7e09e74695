"""livemer.errors: one-line reports."""
from __future__ import annotations

from livemer.errors import LivemerError, expected_errors, first_line


def test_first_line_of_a_message():
    assert first_line(ValueError("  bad input\nsecond line\n")) == "bad input"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(RuntimeError("   "), "") == ""
    assert first_line(KeyError("k"), "x") == "'k'"


def test_livemer_errors_are_expected_and_carry_their_exit_code():
    assert LivemerError in expected_errors()
    assert LivemerError("x", exit_code=3).exit_code == 3
