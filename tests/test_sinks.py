"""livemer.sinks: the --record video and the --jsonl lines (atomic, flushed, closed once)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livemer.sinks import JsonlSink, Recorder


def test_recorder_writes_a_valid_video_atomically(tmp_path):
    import cv2

    out = tmp_path / "rec.mp4"
    rec = Recorder(out, 10.0, (64, 48))
    assert not out.exists() and rec.tmp.exists()
    for i in range(5):
        rec.write(np.full((48, 64, 3), i * 40, np.uint8), t=i * 0.1)
    rec.write(np.zeros((96, 128, 3), np.uint8), t=0.9)  # resized; a gap of 0.4 s is filled by repeats
    assert rec.close() == out
    assert out.exists() and not rec.tmp.exists()
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == rec.frames == 10
    assert rec.close() is None  # closing twice is harmless


def test_recorder_without_frames_leaves_nothing(tmp_path):
    rec = Recorder(tmp_path / "empty.mp4", 25.0, (64, 48))
    assert rec.close() is None
    assert list(tmp_path.iterdir()) == []


def test_recorder_bad_folder_is_one_line(tmp_path):
    from livemer.errors import LivemerError

    with pytest.raises(LivemerError, match="does not exist"):
        Recorder(tmp_path / "no" / "x.mp4", 25.0, (64, 48))


def test_jsonl_sink_writes_flushed_lines(tmp_path):
    p = tmp_path / "r.jsonl"
    sink = JsonlSink(p)
    sink.write({"a": 1})
    assert p.read_text() == '{"a": 1}\n'  # flushed at once
    sink.write({"b": None, "s": "é"})
    sink.close()
    sink.write({"c": 3})  # after close: ignored
    lines = [json.loads(ln) for ln in p.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"a": 1}, {"b": None, "s": "é"}]
    with pytest.raises(ValueError):
        JsonlSink(tmp_path / "x.jsonl").write({"nan": float("nan")})  # never writes invalid JSON


def test_recorder_keeps_real_time_when_frames_come_faster(tmp_path):
    rec = Recorder(tmp_path / "fast.mp4", 10.0, (32, 24))
    for i in range(31):  # 3 s at 30 frames per second into a 10 fps video
        rec.write(np.zeros((24, 32, 3), np.uint8), t=i / 30)
    rec.close()
    assert rec.frames == 31 // 3 + 1  # 3 s at 10 fps (plus the first frame), not 31 frames
