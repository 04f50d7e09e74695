"""livemer.offline: the file-mode pipeline (real engine and acoustic features; scripted face and ASR)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from feature_adapters.face import FaceResult
from feature_adapters.text import TimedWord
from livemer.engine import Engine, EngineConfig
from livemer.errors import LivemerError
from livemer.media import MediaError
from livemer.offline import (
    FileDriver,
    OfflineSettings,
    latest_before,
    summarise,
    window_times,
    words_in_hops,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")


# --------------------------------------------------------------------------- pure helpers


def test_window_times_cover_the_duration():
    t = window_times(1.0, 0.2)
    assert np.allclose(t, [0.2, 0.4, 0.6, 0.8, 1.0])
    t = window_times(1.05, 0.2)
    assert np.allclose(t, [0.2, 0.4, 0.6, 0.8, 1.0, 1.05])  # the last window ends at the very end
    assert window_times(0.0, 0.2).size == 0
    assert np.allclose(window_times(0.1, 0.2), [0.1])


def test_decoded_duration_stops_where_a_truncated_stream_stops():
    from types import SimpleNamespace

    from livemer.media import MediaInfo
    from livemer.offline import decoded_duration

    info = MediaInfo(Path("x.mp4"), True, True, 10.0, fps=25.0, video_duration=10.0, audio_duration=10.0)
    whole_video = SimpleNamespace(frames_decoded=250)
    cut_video = SimpleNamespace(frames_decoded=100)  # 4 s of 10
    whole_audio, cut_audio = SimpleNamespace(duration=10.0), SimpleNamespace(duration=6.0)
    assert decoded_duration(info, whole_video, whole_audio) == 10.0
    assert decoded_duration(info, None, None) == 10.0
    assert decoded_duration(info, cut_video, whole_audio) == pytest.approx(4.0)
    assert decoded_duration(info, whole_video, cut_audio) == pytest.approx(6.0)
    assert decoded_duration(info, cut_video, cut_audio) == pytest.approx(4.0)
    assert decoded_duration(info, SimpleNamespace(frames_decoded=240), whole_audio) == 10.0  # within tolerance


def test_latest_before_is_strict():
    assert latest_before(np.array([0.0, 0.1, 0.2]), np.array([0.0, 0.1, 0.15, 0.3])).tolist() == [-1, 0, 1, 2]


def test_words_in_hops_places_each_word_once():
    toks = [TimedWord("so", 0.1, 0.3), TimedWord("happy", 0.3, 0.55), TimedWord("today", 0.9, 1.2)]
    rows = words_in_hops(toks, np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2]), 0.2)
    assert rows == ["", "so", "happy", "", "", "today"]


def test_summarise_ignores_empty_windows():
    p = np.array([[0.2, 0.9], [np.nan, np.nan], [0.6, 0.4], [0.7, 0.1]])
    s = summarise(["a", "b"], p, 0.2)
    assert s["a"]["mean"] == pytest.approx(0.5)
    assert s["a"]["max"] == pytest.approx(0.7)
    assert s["a"]["seconds_above_0_5"] == pytest.approx(0.4)
    assert s["b"]["seconds_above_0_5"] == pytest.approx(0.2)
    none = summarise(["a"], np.full((3, 1), np.nan), 0.2)
    assert none["a"] == {"mean": None, "max": None, "seconds_above_0_5": 0.0}


def test_settings_validate_and_tolerance_follows_face_rate():
    with pytest.raises(LivemerError, match="--hop"):
        OfflineSettings(hop=0)
    with pytest.raises(LivemerError, match="--face-fps"):
        OfflineSettings(face_fps=-1)
    with pytest.raises(LivemerError, match="blas_threads"):
        OfflineSettings(blas_threads=0)
    assert OfflineSettings(face_fps=5).tolerance() == pytest.approx(0.101)
    assert OfflineSettings(face_fps=30).tolerance() == pytest.approx(0.05)


# --------------------------------------------------------------------------- the pipeline


class ScriptedFace:
    """A face backend: a face is 'found' in bright frames, its smile AU is the brightness."""

    name = "mediapipe"

    def __init__(self):
        self.calls = 0
        self.times = []

    def process(self, frame, timestamp_ms):
        self.calls += 1
        self.times.append(timestamp_ms)
        v = float(frame.mean()) / 255.0
        if v < 0.5:
            return FaceResult(face_found=False)
        return FaceResult(
            face_found=True,
            box=(10.0, 10.0, 60.0, 70.0),
            head_pose=(0.0, 0.0, 0.0),
            aus={"AU06": v, "AU12": v, "AU25": 0.2, "AU26": 0.1},
            n_faces=1,
        )


class ScriptedASR:
    """An ASR engine that hears two words once the audio is loud enough."""

    def __init__(self):
        self.calls = 0

    def transcribe_file_audio(self, audio16k):
        from threadpoolctl import threadpool_info

        self.calls += 1
        self.blas_threads = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
        if float(np.abs(audio16k).max(initial=0.0)) < 0.05:
            return []
        return [TimedWord("happy", 1.1, 1.4, 0.9), TimedWord("day!", 1.5, 1.75, 0.8)]

    def with_options(self, **changes):
        return self


class ScriptedEngine(Engine):
    """The engine with a file driver whose face and speech stages run the scripted backends."""

    def __init__(self, config):
        super().__init__(config)
        self.fake_face = ScriptedFace()
        self.fake_asr = ScriptedASR()
        self.drivers = {}

    def driver(self, settings=None):
        settings = settings or OfflineSettings()
        key = (settings.hop, settings.face_fps)
        if key not in self.drivers:
            self.drivers[key] = FileDriver(self, settings, components={"face": self.fake_face, "asr": self.fake_asr})
        return self.drivers[key]


def analyse_file(engine, path, settings=None, progress=None):
    return engine.driver(settings).analyse(path, progress=progress)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """2 s clips: dark first second (no face) then bright; silence then a 220 Hz voice-like tone."""
    d = tmp_path_factory.mktemp("offline")

    def ff(*args):
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)

    tone = "aevalsrc=if(gte(t\\,1)\\,0.4*sin(2*PI*220*t)+0.2*sin(2*PI*440*t)\\,0):s=16000:d=2"
    video = [
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=160x120:r=25:d=1",
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=160x120:r=25:d=1",
    ]
    vcat = ["-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]"]
    enc = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    out = {}
    out["av"] = d / "av.mp4"
    ff(*video, "-f", "lavfi", "-i", tone, *vcat, "-map", "2:a", *enc, "-c:a", "aac", str(out["av"]))
    out["video_only"] = d / "video_only.mp4"
    ff(*video, *vcat, *enc, str(out["video_only"]))
    out["audio_only"] = d / "audio_only.wav"
    ff("-f", "lavfi", "-i", tone, str(out["audio_only"]))
    out["dark"] = d / "dark.mp4"
    ff("-f", "lavfi", "-i", "color=c=black:s=160x120:r=25:d=1", *enc, str(out["dark"]))
    return out


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    # speech gate off: the 220 Hz tone stands in for a voice here (the gate itself: tests/test_speech_gate.py)
    return ScriptedEngine(
        EngineConfig(checkpoint=tiny_checkpoint, modalities="tav", face_backend="mediapipe", speech_gate=False)
    )


@pytest.mark.slow
def test_all_modalities_rows_follow_the_media(engine, clips):
    ticks = []
    r = analyse_file(engine, clips["av"], OfflineSettings(hop=0.2, face_fps=10), progress=ticks.append)
    assert r.n == 10 and np.allclose(r.times, np.arange(1, 11) * 0.2)
    assert r.probabilities.shape == (10, len(r.emotions))
    assert sum(ticks) == pytest.approx(r.duration, abs=0.05)
    # the face: dark first second, found afterwards; 10 analysed frames per second of a 25 fps video
    assert r.face is not None and len(r.face.times) == 20 and r.face.frames_decoded == 50
    assert r.face_present.tolist() == [False] * 5 + [True] * 5
    # the voice: silent first second (the last frames before 1 s may hear the onset: 64 ms analysis frames)
    assert not r.voice_present[:4].any() and r.voice_present[6:].all()
    # words: each appears once, in the hop it ended in; the windows read them afterwards
    assert r.new_words[6] == "happy"  # ended at 1.4 s, the row ending at 1.4 s
    assert r.new_words[8] == "day" and r.new_words[7] == r.new_words[9] == ""  # "day!" ended at 1.75 s
    assert r.words[-1].split()[-2:] == ["happy", "day"]
    assert [w.word for w in r.transcript] == ["happy", "day!"]
    # the model: nothing observed in the first 0.5 s -> NaN rows; later rows are probabilities
    assert np.isnan(r.probabilities[:2]).all() and r.modalities_used[:2] == ["", ""]
    late = r.probabilities[5:]
    assert np.isfinite(late).all() and ((late > 0) & (late < 1)).all()
    assert r.modalities_used[-1] == "tav"
    # a modality's scores exist exactly where it was used
    for m in ("text", "acoustic", "visual"):
        used = np.array([m[0] in u for u in r.modalities_used])
        assert np.isfinite(r.modality_scores[m][used]).all()
        assert np.isnan(r.modality_scores[m][~used]).all()
    assert "visual" in r.modalities_used[-1] or "v" in r.modalities_used[-1]
    assert not r.masked and r.modalities_present == ("text", "acoustic", "visual")
    assert r.summary() == summarise(r.emotions, r.probabilities, 0.2)
    assert r.top_emotion()[0] in r.emotions


@pytest.mark.slow
def test_windows_are_the_live_windows(engine, clips):
    """Every row equals what the live aligner + model give at that time from the same frames and words."""
    r = analyse_file(engine, clips["av"], OfflineSettings(hop=0.2, face_fps=25))
    audio = engine.driver(OfflineSettings(hop=0.2, face_fps=25)).analyse_audio(r.info, True, True)
    al = engine.new_aligner(t0=0.0)
    al.add_visual(r.face.times, r.face.features, r.face.valid)
    al.add_acoustic(audio.times, audio.features, audio.valid)
    al.add_words([(t.token, t.start, t.end, None if t.oov else t.vector, t.oov) for t in audio.tokens])
    for i in (3, 6, 9):
        pred = engine.predict(al.window(float(r.times[i])))
        assert np.allclose(pred.probabilities, r.probabilities[i], equal_nan=True, atol=1e-6)


@pytest.mark.slow
def test_video_without_audio_masks_acoustic_and_text(engine, clips):
    before = engine.fake_asr.calls
    r = analyse_file(engine, clips["video_only"], OfflineSettings(hop=0.2, face_fps=10))
    assert r.masked == {"acoustic": "no audio track", "text": "no audio track"}
    assert any("no audio track" in n for n in r.notices)
    assert engine.fake_asr.calls == before  # nothing to transcribe
    assert r.modalities_present == ("visual",)
    assert set("".join(r.modalities_used)) <= {"v"}
    assert np.isfinite(r.probabilities[-1]).all()
    assert not r.voice_present.any() and r.transcript == []
    assert np.isnan(r.modality_scores["text"]).all() and np.isnan(r.modality_scores["acoustic"]).all()


@pytest.mark.slow
def test_audio_only_masks_visual(engine, clips):
    calls = engine.fake_face.calls
    r = analyse_file(engine, clips["audio_only"], OfflineSettings(hop=0.25))
    assert r.masked == {"visual": "no video stream"}
    assert any("visual modality is masked" in n for n in r.notices)
    assert engine.fake_face.calls == calls and r.face is None
    assert r.n == 8 and not r.face_present.any()
    assert set("".join(r.modalities_used)) <= {"t", "a"} and "ta" in r.modalities_used
    assert np.isnan(r.modality_scores["visual"]).all()


@pytest.mark.slow
def test_no_face_anywhere_is_masked_not_faked(engine, clips):
    r = analyse_file(engine, clips["dark"], OfflineSettings(hop=0.2))
    assert r.masked["visual"] == "no face found in any analysed frame"
    assert r.masked["acoustic"] == "no audio track"
    assert np.isnan(r.probabilities).all()  # nothing observed at all: no prediction, not a made-up one
    assert r.top_emotion() is None


@pytest.mark.slow
def test_requested_modalities_skip_unneeded_work(tiny_checkpoint, clips):
    eng = ScriptedEngine(EngineConfig(checkpoint=tiny_checkpoint, modalities="v", face_backend="mediapipe"))
    r = analyse_file(eng, clips["av"], OfflineSettings(hop=0.5))
    assert eng.fake_asr.calls == 0 and r.transcript == []
    assert r.modalities_requested == ("visual",)
    assert set(r.modality_scores) == {"visual"}
    eng2 = ScriptedEngine(EngineConfig(checkpoint=tiny_checkpoint, modalities="ta", face_backend="mediapipe"))
    r2 = analyse_file(eng2, clips["av"], OfflineSettings(hop=0.5))
    assert eng2.fake_face.calls == 0 and r2.face is None and "visual" not in r2.masked


@pytest.mark.slow
def test_face_timestamps_keep_increasing_across_files(tiny_checkpoint, clips):
    eng = ScriptedEngine(EngineConfig(checkpoint=tiny_checkpoint, modalities="v", face_backend="mediapipe"))
    analyse_file(eng, clips["dark"], OfflineSettings(face_fps=5))
    analyse_file(eng, clips["dark"], OfflineSettings(face_fps=5))  # the same driver: one tracker, time moves on
    ts = eng.fake_face.times
    assert len(ts) == 10 and all(b > a for a, b in zip(ts, ts[1:]))


def test_analysis_uses_the_same_blas_threads_whatever_the_process_default(engine, clips):
    """BLAS sums in a thread-dependent order (mel and acoustic features): every process analyses with
    ``blas_threads`` (a pool worker and the CLI's process gave different words before)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        outer = blas()
        analyse_file(engine, clips["audio_only"])
        assert engine.fake_asr.blas_threads == {OfflineSettings().blas_threads} == {1}
        assert blas() == outer  # the process's own setting comes back


@pytest.mark.slow
def test_unreadable_input_raises_media_error(engine, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(MediaError) as ei:
        analyse_file(engine, bad)
    assert str(bad) in str(ei.value)
