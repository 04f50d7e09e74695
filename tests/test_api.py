"""livemer.api: analyze() -> Analysis and Recognizer (push frames and audio; the live driver's Session)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import livemer
from livemer.errors import LivemerError

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None, reason="espeak-ng or ffmpeg missing"
)

SPOKEN = "I am so happy to see you today my friend"


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    from test_batch import speak

    return speak(tmp_path_factory.mktemp("api") / "speech.wav", SPOKEN)


def test_import_livemer_stays_cheap():
    code = "import sys, livemer; print(sorted(m for m in ('numpy', 'pandas', 'livemer.api') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert livemer.analyze is livemer.api.analyze and livemer.Recognizer.__name__ == "Recognizer"


def test_analyze_audio(speech, tiny_checkpoint):
    a = livemer.analyze(speech, emotions=["happy", "sad", "bored"], modalities="ta", checkpoint=tiny_checkpoint)
    assert isinstance(a, livemer.Analysis) and a.kind == "audio" and a.modalities == "ta"
    assert a.emotions == ["happy", "sad", "bored"] and set(a.summary) == set(a.emotions)
    heard = a.transcript.lower()
    assert sum(w in heard for w in ("happy", "see", "today", "friend")) >= 3, heard
    df = a.to_pandas()
    assert len(df) == a.result.n and df["end"].iloc[-1] == pytest.approx(a.duration, abs=1e-3)
    assert df["p_bored"].notna().any() and df["visual_happy"].isna().all()
    assert a.summary["happy"]["mean"] == pytest.approx(df["p_happy"].mean(), abs=1e-9)
    assert a.top_emotion[0] in a.emotions and "speech.wav" in repr(a)
    b = livemer.analyze(speech, emotions="happy,sad,bored", modalities="ta", checkpoint=tiny_checkpoint)
    np.testing.assert_allclose(b.to_pandas()["p_happy"], df["p_happy"])  # a warm second call, same result


def test_analyze_image_and_errors(feat_data, tiny_checkpoint, tmp_path):
    a = livemer.analyze(feat_data / "single_face.jpg", checkpoint=tiny_checkpoint)
    assert a.kind == "image" and a.modalities == "v" and a.transcript == ""
    df = a.to_pandas()
    assert len(df) == 1 and df.loc[0, "face_id"] == 0
    with pytest.raises(LivemerError, match="no such file"):
        livemer.analyze(tmp_path / "nothing.mp4", checkpoint=tiny_checkpoint)
    with pytest.raises(LivemerError, match="--hop"):
        livemer.analyze(feat_data / "single_face.jpg", hop=0)


def _frames(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    k = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        yield k / fps, frame
        k += 1
    cap.release()


def test_recognizer_frames_and_audio_give_results(feat_data, speech, tiny_checkpoint):
    from livemer.media import load_audio_track, probe
    from livemer.session import Session

    audio = load_audio_track(probe(speech))
    with livemer.Recognizer(
        emotions=["happy", "sad"], modalities="tav", checkpoint=tiny_checkpoint, smoothing=0.0
    ) as rec:
        assert isinstance(rec.session, Session) and rec.result() is None
        analysed = [o for t, f in _frames(feat_data / "single_face.mp4") if (o := rec.push_frame(t, f)) is not None]
        assert analysed and any(o.found for o in analysed)
        hop = 1600  # 0.1 s chunks, as a microphone gives them
        for k in range(0, audio.size, hop):
            rec.push_audio((k + hop) / 16000, audio[k : k + hop])
        last = rec.finish()
        assert last is not None and last.emotions == ["happy", "sad"]
        assert "visual" in last.modalities_used or "acoustic" in last.modalities_used
        assert sum(w in rec.transcript.lower() for w in ("happy", "see", "today", "friend")) >= 2, rec.transcript
        res = rec.result(2.0)
        assert res.face_present and np.isfinite(res.probabilities).all()
        rec.reset()
        assert rec.result() is None and rec.transcript == ""
    with pytest.raises(LivemerError, match="closed"):
        rec.push_frame(0.0, np.zeros((8, 8, 3), np.uint8))


def test_recognizer_resamples_audio(speech, tiny_checkpoint):
    import soxr

    from livemer.media import load_audio_track, probe

    audio = soxr.resample(load_audio_track(probe(speech)), 16000, 48000).astype(np.float32)
    with livemer.Recognizer(modalities="a", checkpoint=tiny_checkpoint) as rec:
        for k in range(0, audio.size, 4800):
            rec.push_audio((k + 4800) / 48000, audio[k : k + 4800], sr=48000)
        r = rec.finish()
        assert r is not None and r.modalities_used == ("acoustic",) and r.voice_present is not None
        assert rec.notices == []
