"""Audio loading: soundfile formats, ffmpeg-decoded video tracks, and clear errors for bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from feature_adapters.audio_io import AudioDecodeError, has_audio_stream, load_audio

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"
)


def _peak_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.fft.rfftfreq(y.size, 1.0 / sr)[np.argmax(spec)])


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def mp4_with_audio(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("av") / "tone.mp4"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=10:duration=1",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:sample_rate=44100:duration=1",
        "-c:v",
        "mpeg4",
        "-c:a",
        "aac",
        "-shortest",
        str(out),
    )
    return out


@pytest.fixture(scope="module")
def mp4_silent_video(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("av") / "noaudio.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=1", "-c:v", "mpeg4", str(out))
    return out


def test_ravdess_flac_loads_as_16k_mono_float32(shared_dir):
    path = shared_dir / "data/ravdess/audio16k/Actor_01/03-01-01-01-01-01-01.flac"
    y = load_audio(path)
    ref, sr = sf.read(path, dtype="float32")
    assert y.dtype == np.float32 and y.ndim == 1
    assert sr == 16000
    np.testing.assert_array_equal(y, ref)
    assert 3.0 < y.size / 16000 < 4.5
    assert np.abs(y).max() > 1e-3  # real speech, not silence


def test_stereo_44k_wav_is_mixed_and_resampled(tmp_path):
    sr = 44100
    t = np.arange(int(1.5 * sr)) / sr
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, left], axis=1).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, stereo, sr)
    y = load_audio(path, sr=16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - 1.5 * 16000) <= 2
    assert abs(_peak_hz(y, 16000) - 440) < 2
    assert 0.45 < np.abs(y[1000:-1000]).max() < 0.55  # mono mix keeps the level


@needs_ffmpeg
def test_mp4_audio_track_is_decoded_by_ffmpeg(mp4_with_audio):
    assert has_audio_stream(mp4_with_audio)
    y = load_audio(mp4_with_audio)
    assert y.dtype == np.float32 and y.ndim == 1
    assert 0.9 * 16000 < y.size < 1.2 * 16000
    assert abs(_peak_hz(y, 16000) - 300) < 3


@pytest.mark.slow
@needs_ffmpeg
def test_video_without_audio_is_reported(mp4_silent_video):
    assert not has_audio_stream(mp4_silent_video)
    with pytest.raises(AudioDecodeError) as err:
        load_audio(mp4_silent_video)
    msg = str(err.value)
    assert "noaudio.mp4" in msg and "no audio stream" in msg and "\n" not in msg


@needs_ffmpeg
def test_grid_mpg_speech(shared_dir):
    path = shared_dir / "media/grid/bbaf2n.mpg"
    assert has_audio_stream(path)
    y = load_audio(path)
    assert 2.5 < y.size / 16000 < 3.5
    assert np.sqrt(np.mean(y**2)) > 1e-3


@pytest.mark.slow
def test_text_file_named_wav_raises_one_line_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioDecodeError) as err:
        load_audio(path)
    msg = str(err.value)
    assert "notes.wav" in msg and "not a readable audio or video file" in msg and "\n" not in msg
    assert not has_audio_stream(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_audio(tmp_path / "nope.flac")
    with pytest.raises(AudioDecodeError, match="nope.mp4"):
        has_audio_stream(tmp_path / "nope.mp4")


def test_truncated_flac_raises(tmp_path, shared_dir):
    src = (shared_dir / "data/ravdess/audio16k/Actor_01/03-01-01-01-01-01-01.flac").read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(src[:40])  # header only
    with pytest.raises(AudioDecodeError, match="cut.flac"):
        load_audio(path)


def test_ogg_opus_is_read_by_soundfile_like_ffmpeg(tmp_path, monkeypatch):
    """.opus (the shared speech corpora) decodes in-process; ffmpeg's decode of the same file agrees."""
    import feature_adapters.audio_io as aio

    t = np.arange(16000) / 16000.0
    y = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    path = tmp_path / "tone.opus"
    sf.write(str(path), y, 16000, format="OGG", subtype="OPUS")
    calls = []
    monkeypatch.setattr(aio, "_load_ffmpeg", lambda p, sr: calls.append(p) or np.zeros(1, np.float32))
    got = load_audio(path, 16000)
    assert not calls and got.dtype == np.float32 and abs(got.size - y.size) < 400
    assert np.corrcoef(got[1000:15000], y[1000:15000])[0, 1] > 0.95
    monkeypatch.undo()
    if shutil.which("ffmpeg"):
        ff = aio._load_ffmpeg(path, 16000)
        n = min(ff.size, got.size)
        assert np.abs(ff[:n] - got[:n]).max() < 0.05
