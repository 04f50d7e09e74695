"""Audio file loading: any audio file or video's audio track -> float32 mono at ``sr``.

wav/flac/ogg/opus/aiff are read with soundfile (then mixed to mono and resampled with
librosa/soxr); anything else (mp3, mp4, mpg, mkv, ...), or a soundfile failure,
is decoded by an ``ffmpeg`` subprocess straight to ``sr`` Hz mono f32le.
Unreadable, corrupt or missing input raises :class:`AudioDecodeError` with a
one-line message naming the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .errors import LivemerError

#: Suffixes tried with soundfile first (libsndfile formats).
SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".au", ".w64"})

_FFMPEG_TIMEOUT_S = 600


class AudioDecodeError(LivemerError, RuntimeError):
    """A file could not be read as audio; the message is one line naming the file."""


def _one_line(text: str, limit: int = 200) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    msg = lines[-1] if lines else "unknown error"
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioDecodeError(f"{path}: no such file")
    if not path.is_file():
        raise AudioDecodeError(f"{path}: not a regular file (expected an audio or video file)")


def _to_mono_f32(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return np.ascontiguousarray(data, dtype=np.float32)


def _resample(y: np.ndarray, orig_sr: int, sr: int) -> np.ndarray:
    if orig_sr == sr or y.size == 0:
        return y
    import librosa

    return np.ascontiguousarray(librosa.resample(y, orig_sr=orig_sr, target_sr=sr), dtype=np.float32)


def _load_soundfile(path: Path, sr: int) -> np.ndarray:
    import soundfile as sf

    data, file_sr = sf.read(str(path), dtype="float32", always_2d=False)
    return _resample(_to_mono_f32(data), int(file_sr), sr)


def _load_ffmpeg(path: Path, sr: int) -> np.ndarray:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioDecodeError(f"{path}: cannot decode (ffmpeg is not installed, and soundfile cannot read it)")
    cmd = [
        ffmpeg,
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(int(sr)),
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "pipe:1",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AudioDecodeError(f"{path}: ffmpeg took over {_FFMPEG_TIMEOUT_S} s to decode the audio") from None
    if proc.returncode != 0:
        readable, audio = _probe(path)
        if readable is False:
            raise AudioDecodeError(f"{path}: not a readable audio or video file (corrupt or unknown format)")
        if not audio:
            raise AudioDecodeError(f"{path}: no audio stream (expected an audio file or a video with sound)")
        err = _one_line(proc.stderr.decode("utf-8", "replace"))
        raise AudioDecodeError(f"{path}: ffmpeg could not decode the audio ({err})")
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def load_audio(path: str | os.PathLike, sr: int = 16000) -> np.ndarray:
    """Load ``path`` as float32 mono at ``sr`` Hz (an audio file or a video's audio track).

    Raises :class:`AudioDecodeError` (one line, naming the file) for a missing,
    unreadable or corrupt file, or a video with no audio stream.
    """
    path = Path(path)
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    _check_exists(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            y = _load_soundfile(path, sr)
        except Exception:  # noqa: BLE001 - libsndfile rejects it; ffmpeg may still read it
            y = None
        if y is not None:
            return _finite(y)
    return _finite(_load_ffmpeg(path, sr))


def _finite(y: np.ndarray) -> np.ndarray:
    if y.size and not np.all(np.isfinite(y)):
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    return y


def has_audio_stream(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds at least one audio stream (ffprobe; soundfile when ffprobe is absent).

    False for a file that is unreadable or has no audio; :class:`AudioDecodeError`
    when the file does not exist.
    """
    path = Path(path)
    _check_exists(path)
    return _probe(path)[1]


def _probe(path: Path) -> tuple[bool | None, bool]:
    """(whether ffprobe could read the container, or None without ffprobe; whether it has audio)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        try:
            import soundfile as sf

            return None, sf.info(str(path)).frames > 0
        except Exception:  # noqa: BLE001
            return None, False
    cmd = [ffprobe, "-v", "error", "-select_streams", "a", "-show_entries", "stream=index", "-of", "csv=p=0", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return None, False
    if proc.returncode != 0:
        return False, False
    return True, bool(proc.stdout.strip())
