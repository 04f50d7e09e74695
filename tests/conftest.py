"""Shared test fixtures. Tests never touch the network: HF_HUB_OFFLINE is forced."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVEMER_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared, or skip the test cleanly when it is absent."""
    if not (SHARED / "README.md").exists():
        pytest.skip("../shared is absent")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep the per-user registry and caches of tests away from the real user's."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("LIVEMER_CONFIG_DIR", str(base / "config"))
    cache = os.environ.get("LIVEMER_TEST_CACHE_DIR") or str(base / "cache")
    monkeypatch.setenv("LIVEMER_CACHE_DIR", cache)
    yield
