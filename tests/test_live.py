"""livemer.live: the threaded live driver on synthetic files (masking from data, clean stop)."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from livemer.live import LiveDriver, LiveOptions, StopOnSignals
from livemer.sinks import JsonlSink

# --------------------------------------------------------------------------- signals


def test_stop_on_signals_turns_sigint_into_stop():
    import os
    import signal

    ev = threading.Event()
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs as a background job
    with StopOnSignals(ev.set) as s:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    assert ev.is_set() and s.received == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before  # the handler in place before is restored


# --------------------------------------------------------------------------- pipeline


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A 2 s grey video with no face, 2 s of silence, and 2 s of a voiced harmonic tone."""
    import cv2
    import soundfile as sf

    d = tmp_path_factory.mktemp("live")
    video = d / "noface.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (160, 120))
    for i in range(30):
        w.write(np.full((120, 160, 3), 90 + i, np.uint8))
    w.release()
    silence = d / "silence.wav"
    sf.write(silence, np.zeros(32000, np.float32), 16000)
    t = np.arange(32000) / 16000
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    tone = sum(0.2 / k * np.sin(k * phase) for k in range(1, 8)).astype(np.float32)
    voiced = d / "voiced.wav"
    sf.write(voiced, tone, 16000)
    return {"video": video, "silence": silence, "voiced": voiced}


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    from livemer.engine import Engine, EngineConfig

    # speech gate off: the harmonic tone stands in for a voice here (with the gate: the test below)
    return Engine(EngineConfig(checkpoint=tiny_checkpoint, smoothing_tau=0.5, speech_gate=False))


@pytest.fixture(scope="module")
def gated_engine(tiny_checkpoint):
    from livemer.engine import Engine, EngineConfig

    return Engine(EngineConfig(checkpoint=tiny_checkpoint, smoothing_tau=0.5))


def _run(engine, tmp_path, **kw):
    out = tmp_path / "res.jsonl"
    opts = LiveOptions(headless=True, jsonl=out, infer_hz=8.0, **kw)
    live = LiveDriver(opts, engine)
    live.jsonl = JsonlSink(out)
    live.open_inputs()
    live.prepare()
    th = threading.Thread(target=live.run, daemon=True)
    th.start()
    th.join(120)
    assert not th.is_alive(), "the pipeline did not end after its input files"
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    return live, rows


@pytest.mark.slow
def test_no_face_and_silence_mask_every_modality(engine, media, tmp_path):
    live, rows = _run(engine, tmp_path, camera=str(media["video"]), mic=str(media["silence"]))
    assert live.stats.errors == []
    assert len(rows) >= 3
    assert all(r["face_present"] is False for r in rows)
    assert all(r["voice_present"] is False for r in rows)
    assert all(r["modalities_used"] == [] for r in rows)  # masked, not faked
    assert all(all(v is None for v in r["raw"].values()) for r in rows)
    assert rows[-1]["transcript"] == ""
    assert live.stats.frames_analysed >= 1 and live.stats.faces_found == 0
    assert live.join(0.1) == []  # every thread has ended


@pytest.mark.slow
def test_a_tone_is_no_voice_with_the_speech_gate(gated_engine, media, tmp_path):
    """Voiced but not speech: the acoustic modality stays masked and every result says why."""
    live, rows = _run(gated_engine, tmp_path, camera=None, mic=str(media["voiced"]))
    assert live.stats.errors == []
    assert len(rows) >= 3
    assert all(r["modalities_used"] == [] and r["voice_present"] is False for r in rows)
    assert all(all(v is None for v in r["raw"].values()) for r in rows)  # no face, no words: no emotion
    assert rows[-1]["voice"] == "no speech detected (noise, music or other sound)"
    assert live.view.overlay_state().voice_reason == rows[-1]["voice"]


@pytest.mark.slow
def test_voiced_audio_gives_the_acoustic_modality(engine, media, tmp_path):
    live, rows = _run(engine, tmp_path, camera=None, mic=str(media["voiced"]))
    assert live.stats.errors == []
    used = [r for r in rows if "acoustic" in r["modalities_used"]]
    assert used, "voiced audio never reached the model"
    assert all("visual" not in r["modalities_used"] for r in rows)  # no camera
    assert any(r["voice_present"] for r in rows)
    last = rows[-1]
    assert last["window"][1] <= 2.05 and last["n_steps"] >= 3
    assert all(v is not None for v in last["emotions"].values())
    ts = [r["t"] for r in rows]
    assert ts == sorted(ts)


@pytest.mark.slow
def test_stop_ends_every_thread_and_closes_outputs(engine, media, tmp_path):
    out = tmp_path / "stop.jsonl"
    rec = tmp_path / "stop.mp4"
    opts = LiveOptions(
        camera=str(media["video"]), mic=str(media["silence"]), headless=True, jsonl=out, record=rec, loop_camera=True
    )
    live = LiveDriver(opts, engine)
    live.jsonl = JsonlSink(out)
    live.open_inputs()
    live.prepare()
    th = threading.Thread(target=live.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 60
    while live.stats.rendered < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    live.stop()
    th.join(10)
    assert not th.is_alive()
    # every thread has ended, except perhaps the recogniser inside a (native, uninterruptible) decode,
    # which the pipeline does not wait for; it ends on its own right after
    alive = live.join(0.5)
    assert alive in ([], ["asr"])
    if alive:
        next(t for t in live._threads if t.name == "asr").join(60)
        assert live.join(0.1) == []
    assert rec.exists() and live.recorder.closed
    for ln in out.read_text().splitlines():
        json.loads(ln)
    assert live.jsonl.closed


def test_both_inputs_none_is_an_error(engine):
    from livemer.errors import LivemerError

    live = LiveDriver(LiveOptions(camera=None, mic=None, headless=True), engine)
    with pytest.raises(LivemerError, match="nothing to analyse"):
        live.open_inputs()


@pytest.mark.slow
def test_a_failing_face_backend_skips_frames_without_ending_the_run(engine, media, tmp_path):
    class Broken:
        name = "broken"
        notice = None

        def process(self, frame, ts):
            raise RuntimeError("cannot read this frame")

    out = tmp_path / "broken.jsonl"
    live = LiveDriver(LiveOptions(camera=str(media["video"]), mic=str(media["voiced"]), headless=True), engine)
    live.jsonl = JsonlSink(out)
    live.open_inputs()
    live.prepare()
    live.session.face.backend = Broken()
    th = threading.Thread(target=live.run, daemon=True)
    th.start()
    th.join(120)
    assert not th.is_alive()
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert live.stats.errors == [] and live.session.item_errors["face"] >= 2
    assert sum("cannot read this frame" in n for n in live.notices) == 1  # reported once
    assert all("visual" not in r["modalities_used"] for r in rows)
    assert any("acoustic" in r["modalities_used"] for r in rows)


def test_the_overlay_is_drawn_once_off_screen_before_the_stream(engine, media, monkeypatch):
    """prepare() draws the overlay once on the camera's first picture (its first-use memory before the
    stream) without showing, recording or handing it on; LiveOptions(warmup=False) leaves it and the stages'
    warm-ups out."""
    import livemer.live_view as live_view
    from livemer.session import Session

    drawn = []
    monkeypatch.setattr(Session, "_load_one", lambda self, name: None)  # no models: only the overlay
    monkeypatch.setattr(live_view, "render", lambda img, st: drawn.append((img.shape, len(st.emotions))))
    handed = []
    for warm in (True, False):
        live = LiveDriver(
            LiveOptions(camera=str(media["video"]), mic=None, headless=True, offscreen=handed.append, warmup=warm),
            engine,
        )
        live.open_inputs()
        live.prepare()
        assert live.session.options.warmup is warm
        live.stop()
        live.join(1.0)
    assert drawn == [((120, 160, 3), len(engine.emotions))] and handed == []
    assert live.stats.rendered == 0
