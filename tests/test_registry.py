"""The per-user emotion registry: persistence, atomic writes, recovery from corruption."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from livemer import registry as registry_mod
from livemer.registry import FILENAME, Registry, config_dir

SPACE = "glove-6B-50d"


def _vec(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=50).astype(np.float32)


def test_default_location_is_the_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEMER_CONFIG_DIR", str(tmp_path))
    assert config_dir() == tmp_path
    reg = Registry()
    assert reg.path == tmp_path / FILENAME
    assert reg.list() == [] and not reg.path.exists()  # reading never creates the file


def test_entries_persist_across_instances(tmp_path):
    path = tmp_path / "sub" / "emotions.json"
    v = _vec()
    Registry(path).add("bored", "bored", SPACE, v)
    Registry(path).add("glad", "joyful", SPACE, _vec(1))
    again = Registry(path)
    assert [e.name for e in again.list()] == ["bored", "glad"]
    e = again.get("bored")
    assert (e.word, e.space) == ("bored", SPACE)
    assert np.allclose(e.as_array(), v, atol=1e-6) and e.as_array().dtype == np.float32
    assert e.added.endswith("+00:00")  # ISO time, UTC
    assert again.get("glad").word == "joyful" and "glad" in again and "sad" not in again
    data = json.loads(path.read_text())
    assert data["schema"] == 1 and len(data["emotions"]) == 2


def test_add_replaces_an_entry_with_the_same_name(tmp_path):
    path = tmp_path / "e.json"
    reg = Registry(path)
    reg.add("x", "bored", SPACE, _vec(0))
    reg.add("x", "weary", SPACE, _vec(1))
    back = Registry(path)
    assert len(back.list()) == 1 and back.get("x").word == "weary"


def test_list_filters_by_space(tmp_path):
    reg = Registry(tmp_path / "e.json")
    reg.add("bored", "bored", SPACE, _vec())
    reg.add("ennui", "ennui", "glove-840B-300d", np.zeros(300))
    assert [e.name for e in reg.list(SPACE)] == ["bored"]
    assert [e.name for e in reg.list("glove-840B-300d")] == ["ennui"]
    assert len(reg.list()) == 2


def test_remove_persists(tmp_path):
    path = tmp_path / "e.json"
    reg = Registry(path)
    reg.add("bored", "bored", SPACE, _vec())
    reg.add("calm", "calm", SPACE, _vec(2))
    assert reg.remove("bored") is True
    assert reg.remove("bored") is False
    assert [e.name for e in Registry(path).list()] == ["calm"]


def test_writes_leave_no_temp_files(tmp_path):
    reg = Registry(tmp_path / "e.json")
    reg.add("bored", "bored", SPACE, _vec())
    reg.remove("bored")
    assert [p.name for p in tmp_path.iterdir()] == ["e.json"]


def test_failed_write_keeps_the_old_file_and_state(tmp_path, monkeypatch):
    path = tmp_path / "e.json"
    reg = Registry(path)
    reg.add("bored", "bored", SPACE, _vec())
    before = path.read_text()

    def half_dump(obj, fh, **kw):
        fh.write('{"schema": 1, "emot')
        raise OSError("disk full")

    monkeypatch.setattr(registry_mod.json, "dump", half_dump)
    with pytest.raises(OSError):
        reg.add("calm", "calm", SPACE, _vec(1))
    with pytest.raises(OSError):
        reg.remove("bored")
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["e.json"]
    assert [e.name for e in reg.list()] == ["bored"]  # memory agrees with the file


def test_concurrent_adds_all_persist(tmp_path):
    path = tmp_path / "e.json"
    reg = Registry(path)
    threads = [threading.Thread(target=reg.add, args=(f"e{i}", "bored", SPACE, _vec(i))) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(e.name for e in Registry(path).list()) == sorted(f"e{i}" for i in range(12))


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "",
        '{"schema": 1, "emotions": [{"name": "x"}]}',
        '["a", "b"]',
        '{"schema": 1, "emotions": [{"name": "x", "word": "x", "space": "s", "vector": ["a"]}]}',
    ],
)
def test_corrupt_file_is_moved_aside_with_a_warning(tmp_path, caplog, content):
    path = tmp_path / "emotions.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="livemer.registry"):
        reg = Registry(path)
    assert reg.list() == []
    assert len(reg.warnings) == 1 and str(path) in reg.warnings[0] and "moved to" in reg.warnings[0]
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    backups = list(tmp_path.glob("emotions.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == content
    assert not path.exists()
    reg.add("bored", "bored", SPACE, _vec())  # and the registry works again
    assert [e.name for e in Registry(path).list()] == ["bored"]


def test_an_adaptation_persists_and_old_entries_have_none(tmp_path):
    path = tmp_path / "emotions.json"
    Registry(path).add("bored", "bored", SPACE, _vec())
    ad = {"checkpoint": "abc", "embeddings": {"acoustic": [0.5, 0.25]}, "examples": 8}
    Registry(path).add("calm", "calm", SPACE, _vec(1), adaptation=ad)
    again = Registry(path)
    assert again.get("bored").adaptation is None
    assert again.get("calm").adaptation == ad


@pytest.fixture(scope="module")
def module_config_dir():
    """What a module-scoped fixture (an engine, say) sees as the registry's folder."""
    return config_dir()


def test_module_scoped_fixtures_never_read_the_real_users_registry(module_config_dir, tmp_path_factory):
    from platformdirs import user_config_dir

    assert module_config_dir != Path(user_config_dir("livemer"))  # emotions a user added stay out of the tests
    assert Path(tmp_path_factory.getbasetemp()) in module_config_dir.parents
