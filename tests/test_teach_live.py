"""Live teaching and calibration: the baseline recorder, the teacher's phases, the controls on an engine."""

from __future__ import annotations

import time

import numpy as np
import pytest

from feature_adapters.windows import Window
from livemer import teach
from livemer.teach_live import BaselineRecorder, LiveControls, LiveTeacher, Recent

T = 20


def _window(end: float, rng=None, acoustic=True, visual=True, level: float = 0.0) -> Window:
    rng = rng or np.random.default_rng(int(end * 10))
    real = np.ones(T, bool)
    starts = end - (T - np.arange(T)) * 0.1

    def feats(d, on):
        x = (rng.normal(size=(T, d)) + level).astype(np.float32)
        x[~on] = 0
        return x, real & on

    t, tm = feats(50, np.zeros(T, bool))
    a, am = feats(74, real & acoustic)
    v, vm = feats(35, real & visual)
    return Window(t, a, v, starts, starts + 0.1, real, tm, am, vm, words=[None] * T)


def test_baseline_recorder_collects_its_seconds_then_reports_means():
    got = {}
    rec = BaselineRecorder(2.0, lambda means, n: got.update(means=means, n=n), lambda msg: got.update(fail=msg))
    assert "2 s" in rec.status()
    for k in range(15):
        rec.feed(0.2 * k, _window(0.2 * k, level=3.0))
    assert rec.finished and got["n"] == 11  # t = 0 .. 2.0
    assert len(rec.used) == 11  # the windows the baseline came from (stored for re-centring taught examples)
    assert set(got["means"]) == {"acoustic", "visual"} and np.allclose(got["means"]["visual"], 3.0, atol=0.3)


def test_baseline_without_face_or_voice_fails_politely():
    got = {}
    rec = BaselineRecorder(1.0, lambda m, n: got.update(done=True), lambda msg: got.update(fail=msg))
    for k in range(7):
        rec.feed(0.2 * k, _window(0.2 * k, acoustic=False, visual=False))
    assert "no face and no voice" in got["fail"] and "done" not in got
    with pytest.raises(ValueError):
        BaselineRecorder(0, print, print)


def test_teacher_counts_down_records_then_fits():
    calls = []
    t_ = LiveTeacher(
        "calm",
        lambda pos, neg: calls.append((len(pos), len(neg))) or "fitted",
        on_done=lambda r: calls.append(r),
        on_fail=lambda m: calls.append(m),
        context=[_window(0.1)] * 3,
        countdown=1.0,
        record=2.0,
        background=False,
    )
    assert "show it in 1" in t_.status()
    for k in range(11):  # 0 .. 2.0 s: countdown, then the first second of recording
        t_.feed(0.2 * k, _window(0.2 * k))
    assert t_.phase == "recording" and "recording" in t_.status() and calls == []
    for k in range(11, 20):
        t_.feed(0.2 * k, _window(0.2 * k))
    # windows from 1 s into the recording (t >= 2.0) to its end (t = 3.0): 6
    assert calls == [(6, 3), "fitted"] and t_.phase == "done" and "taught 'calm'" in t_.status()


def test_teacher_failure_is_one_line_in_the_overlay():
    msgs = []

    def boom(pos, neg):
        raise ValueError("too few examples\nsecond line")

    t_ = LiveTeacher(
        "calm", boom, on_done=msgs.append, on_fail=msgs.append, countdown=0.0, record=0.4, background=False
    )
    for k in range(4):
        t_.feed(0.2 * k, _window(0.2 * k))
    assert t_.phase == "failed" and msgs == ["teaching 'calm' failed: too few examples"]


def test_recent_keeps_a_bounded_tail():
    r = Recent(seconds=1.0, max_windows=100)
    for k in range(30):
        r.feed(0.2 * k, k)
    assert r.windows() == [24, 25, 26, 27, 28, 29]


@pytest.fixture()
def engine(tiny_checkpoint, tmp_path, monkeypatch):
    """A real Engine on the tiny checkpoint (no face/ASR models are loaded by these tests)."""
    from livemer.engine import Engine, EngineConfig
    from livemer.registry import Registry

    monkeypatch.setenv("LIVEMER_CONFIG_DIR", str(tmp_path / "cfg"))
    return Engine(EngineConfig(checkpoint=tiny_checkpoint), registry=Registry(tmp_path / "cfg" / "emotions.json"))


def _drive(engine, t0, t1, level=0.0):
    for k in range(int(round((t1 - t0) / 0.2))):
        t = t0 + 0.2 * k
        engine.infer(_window(t, level=level), t)


def test_controls_teach_through_the_engine_and_the_emotion_appears(engine):
    shown = []
    c = LiveControls(engine, show=lambda text, s=3.0: shown.append(text), countdown=0.6, record=2.0)
    _drive(engine, 0.0, 4.0)  # what the user does before teaching: the negatives
    c.teach("calm")
    assert c.busy() and "teach 'calm'" in c.status()
    _drive(engine, 4.0, 7.2, level=2.0)
    c.active.thread.join(30)
    assert "calm" in engine.emotions and "calm" in engine.user_added
    assert any("taught '+calm'" in s for s in shown)
    entry = engine.registry.get("calm")
    assert entry.adaptation["negative_sources"] == {"before teaching": 20}
    assert teach.windows_path(engine.registry, "calm").exists()
    res = engine.infer(_window(8.0, level=2.0), 8.0)
    assert "calm" in res.emotions and np.isfinite(res.probabilities).all()


def test_controls_refuse_bad_words_and_overlap(engine):
    shown = []
    c = LiveControls(engine, show=lambda text, s=3.0: shown.append(text))
    c.teach("sad")
    c.teach("qwxzvb")
    c.teach("two words")
    assert "trained emotion" in shown[0] and "qwxzvb" in shown[1] and "one word" in shown[2]
    assert not c.busy()
    c.calibrate(1.0)
    c.teach("calm")
    assert "wait" in shown[-1]


def test_controls_calibrate_store_and_the_next_engine_uses_it(engine, tiny_checkpoint):
    from livemer.baseline import baseline_path, load_baseline
    from livemer.engine import Engine, EngineConfig

    shown = []
    c = LiveControls(engine, show=lambda text, s=3.0: shown.append(text))
    c.calibrate(1.0)
    _drive(engine, 0.0, 1.6, level=1.0)
    assert engine.calibrated and "calibrated" in shown[-1]
    base, note = load_baseline()
    assert note is None and base["windows"] == 6 and baseline_path().exists()
    assert set(engine.predictor.calibration) == {"acoustic", "visual"}
    again = Engine(EngineConfig(checkpoint=tiny_checkpoint, calibration=True))
    assert again.calibrated
    assert not Engine(EngineConfig(checkpoint=tiny_checkpoint)).calibrated  # file mode: off unless asked


@pytest.mark.slow
def test_teaching_and_calibrating_in_a_real_window_under_xvfb(tiny_checkpoint, tmp_path):
    """`livemer run` in an X window (Xvfb): t + a word + Enter teaches it, c calibrates, q quits."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("needs Xvfb and xdotool")
    import cv2
    import soundfile as sf

    video = tmp_path / "grey.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (160, 120))
    for i in range(45):
        w.write(np.full((120, 160, 3), 90 + i, np.uint8))
    w.release()
    # the microphone: real (espeak-ng) speech, since the speech gate masks a tone as no voice
    if not shutil.which("espeak-ng"):
        pytest.skip("needs espeak-ng")
    said = " ".join(["Kids are talking by the door, and the dogs are sitting by the door."] * 24)
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "speech.wav"), said], check=True, capture_output=True)
    speech, sr = sf.read(tmp_path / "speech.wav", dtype="float32")
    assert len(speech) / sr >= 60
    display = f":{90 + os.getpid() % 100}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "800x600x24"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(repo), "LIVEMER_CONFIG_DIR": str(tmp_path / "cfg")}
    err = open(tmp_path / "err.txt", "w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from livemer.cli import main; sys.exit(main())",
            "run",
            "--camera",
            str(video),
            "--loop",
            "--mic",
            str(tmp_path / "speech.wav"),
            "--checkpoint",
            str(tiny_checkpoint),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )

    def x(*args):
        return subprocess.run(
            ["xdotool", *args], check=False, env=env, capture_output=True, text=True, timeout=20
        ).stdout

    def wait(cond, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end and proc.poll() is None:
            if cond():
                return True
            time.sleep(0.3)
        return cond()

    try:
        assert wait(lambda: "keys:" in (tmp_path / "err.txt").read_text(), 120), (tmp_path / "err.txt").read_text()
        win = x("search", "--name", "livemer").split()[0]
        x("windowfocus", "--sync", win)
        time.sleep(4)  # a few seconds of 'not calm' before teaching: the negatives
        for key in ["t", "c", "a", "l", "m", "Return"]:
            x("key", key)
            time.sleep(0.5)
        reg = tmp_path / "cfg" / "emotions.json"
        assert wait(lambda: reg.exists() and "calm" in reg.read_text(), 60), (tmp_path / "err.txt").read_text()
        entry = json.loads(reg.read_text())["emotions"][0]
        assert entry["name"] == "calm" and entry["adaptation"]["windows"] > 0
        time.sleep(1)
        x("key", "c")
        assert wait(lambda: (tmp_path / "cfg" / "calibration.json").exists(), 60)
        x("key", "q")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        xvfb.kill()
        err.close()
    text = (tmp_path / "err.txt").read_text()
    assert "Traceback" not in text
