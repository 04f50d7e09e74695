"""livemer.errors: one-line reports; every expected error of every package derives from LivemerError."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from livemer.errors import LivemerError, first_line

REPO = Path(__file__).resolve().parents[1]


def test_first_line_of_a_message():
    assert first_line(ValueError("  bad input\nsecond line\n")) == "bad input"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(RuntimeError("   "), "") == ""
    assert first_line(KeyError("k"), "x") == "'k'"


def test_livemer_errors_carry_their_exit_code():
    assert LivemerError("x").exit_code == 2
    assert LivemerError("x", exit_code=3).exit_code == 3
    assert str(LivemerError("x", exit_code=3)) == "x"


def _exception_classes():
    """(module, class name) of every class in livemer/, model/, feature_adapters/ named like an error."""
    for pkg in ("livemer", "model", "feature_adapters"):
        for path in sorted((REPO / pkg).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Mismatch", "Unavailable")):
                    yield f"{pkg}.{path.stem}", node.name


@pytest.mark.parametrize("module,name", list(_exception_classes()))
def test_every_error_class_derives_from_the_one_root(module, name):
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # an optional dependency of that module is missing
        pytest.skip(f"{module}: {exc}")
    cls = getattr(mod, name)
    assert issubclass(cls, LivemerError), f"{module}.{name} does not derive from LivemerError"


def test_subclasses_keep_their_builtin_meaning():
    from feature_adapters.embeddings import UnknownWordError
    from model.checkpoint import CheckpointError

    e = UnknownWordError("zzqx", ["zz"], "glove-6b-50d")
    assert isinstance(e, KeyError) and str(e).startswith("'zzqx' has no vector")  # not KeyError's quoting
    assert issubclass(CheckpointError, ValueError)
