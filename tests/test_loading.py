"""livemer.loading: grouped, serialised imports of heavy libraries."""

from __future__ import annotations

import sys
import threading

import pytest

from livemer.loading import _HEAVY_IMPORTS, import_heavy


def test_import_heavy_imports_its_group_from_several_threads():
    errors = []

    def job(kind):
        try:
            import_heavy(kind)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(k,)) for k in ("acoustic", "model", "acoustic")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    for name in _HEAVY_IMPORTS["acoustic"] + _HEAVY_IMPORTS["model"]:
        assert name in sys.modules


def test_unknown_group_is_a_key_error():
    with pytest.raises(KeyError):
        import_heavy("nope")
