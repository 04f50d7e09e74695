"""The pool that fills the feature cache, and its report."""

from __future__ import annotations

import json
import logging
import os

import pytest

from recipes.extraction import (
    FAILED,
    NO_FACE,
    OK,
    ExtractionReport,
    ItemStatus,
    extract_by_group,
    first_per_class,
    run_pool,
    worker_env,
    write_report,
)


def fake_task(key: str) -> ItemStatus:
    """Top level, so spawned workers can unpickle it; reports its process id and thread setting."""
    if key.startswith("bad"):
        return ItemStatus(key, FAILED, 0.01, message=f"{key}: not a readable image")
    status = NO_FACE if key.startswith("blank") else OK
    return ItemStatus(key, status, 0.002, key.startswith("hit"), f"{os.getpid()} {os.environ.get('OMP_NUM_THREADS')}")


KEYS = ["a", "bad1", "blank", "hit", "b", "c"]


def test_in_process_run_keeps_order_counts_and_warns_once_per_failure(caplog):
    with caplog.at_level(logging.WARNING):
        rep = run_pool(fake_task, KEYS, name="t", workers=1, progress=False)
    assert [i.key for i in rep.items] == KEYS
    assert rep.counts() == {OK: 4, NO_FACE: 1, FAILED: 1}
    assert rep.keys(NO_FACE) == ["blank"] and len(rep.computed()) == 5
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warns == ["t: skipped bad1: not a readable image"]
    text = rep.summary()
    assert "6 files, 4 ok, 1 no face, 1 failed; 1 from the cache, 5 computed" in text and "1 worker(s)" in text
    d = rep.to_dict()
    assert d["failed_files"] == {"bad1": "bad1: not a readable image"} and d["no_face_files"] == ["blank"]
    assert d["per_item_ms"] == pytest.approx((0.002 * 4 + 0.01) / 5 * 1000, abs=0.01)


def test_two_spawned_workers_run_single_threaded():
    rep = run_pool(fake_task, KEYS * 3, name="t", workers=2, progress=False, chunksize=1)
    assert [i.key for i in rep.items] == KEYS * 3 and rep.workers == 2
    pids = {i.message.split()[0] for i in rep.items if i.status != FAILED}
    assert str(os.getpid()) not in pids
    assert {i.message.split()[1] for i in rep.items if i.status != FAILED} == {"1"}


def test_worker_env_restores_the_parent(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with worker_env():
        assert os.environ["OMP_NUM_THREADS"] == "1" == os.environ["MKL_NUM_THREADS"]
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ


def test_report_json_and_bad_status(tmp_path):
    rep = ExtractionReport("x", [ItemStatus("a", OK, 0.1)], wall_s=2.0)
    write_report(tmp_path / "r" / "rep.json", [rep])
    got = json.loads((tmp_path / "r" / "rep.json").read_text())
    assert got["x"]["ok"] == 1 and got["x"]["wall_s"] == 2.0 and not list((tmp_path / "r").glob(".*tmp"))
    with pytest.raises(ValueError, match="status"):
        ItemStatus("a", "weird")


def test_first_per_class():
    items = [("a", 1), ("a", 2), ("b", 3), ("a", 4), ("b", 5)]
    assert first_per_class(items, 1, lambda t: t[0]) == [("a", 1), ("b", 3)]
    assert first_per_class(items, 2, lambda t: t[0]) == [("a", 1), ("a", 2), ("b", 3), ("b", 5)]


def test_extract_by_group_runs_each_group_in_first_seen_order_and_writes_the_report(tmp_path, capsys):
    calls = []

    def extract(sub, *, workers, progress, name):
        calls.append((name, list(sub), workers, progress))
        return ExtractionReport(name, [fake_task(k) for k in sub], workers=workers)

    items = ["b:1", "a:1", "b:2", "a:2", "c:1"]
    reps = extract_by_group(items, lambda x: x.split(":")[0], extract, "speech", workers=2, report=tmp_path / "r.json")
    assert [c[0] for c in calls] == ["speech/b", "speech/a", "speech/c"]
    assert calls[0][1:] == (["b:1", "b:2"], 2, True) and calls[2][1] == ["c:1"]
    assert [r.name for r in reps] == ["speech/b", "speech/a", "speech/c"]
    assert list(json.loads((tmp_path / "r.json").read_text())) == ["speech/b", "speech/a", "speech/c"]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("speech/b: 2 files, 2 ok")
    last = json.loads(out[-1])
    assert last["speech/a"]["ok"] == 2 and not any(k.endswith("_files") for k in last["speech/a"])
