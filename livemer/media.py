"""Media files for ``livemer file``: probe with ffprobe, decode frames with OpenCV, audio via audio_io.

:func:`probe` answers what a file holds (video / audio streams, duration, frame
rate, size) or raises :class:`MediaError` with a one-line message naming the
file and what was expected (missing, not a media file, truncated or corrupt).
:class:`VideoReader` decodes frames in order with ``cv2.VideoCapture``; frames
that are not wanted are only grabbed (demuxed and decoded, never converted),
which keeps sparse sampling cheap. :func:`load_audio_track` reads the audio
as 16 kHz mono float32 through :func:`feature_adapters.audio_io.load_audio`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LivemerError

#: File suffixes taken as media when a folder is expanded.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}
)
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aiff", ".aif", ".wma"})
MEDIA_SUFFIXES = VIDEO_SUFFIXES | AUDIO_SUFFIXES

#: Fraction of the probed video duration that decoding must reach, else the file is truncated.
MIN_DECODED_FRACTION = 0.9

_PROBE_TIMEOUT_S = 60
_IMAGE_FORMATS = ("image2", "_pipe", "png", "jpeg", "webp", "gif")


class MediaError(LivemerError):
    """A file that cannot be used as media input; the message is one line naming the file."""


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a file."""

    path: Path
    has_video: bool
    has_audio: bool
    duration: float  # seconds (the longest stream)
    fps: float | None = None  # video frame rate
    frame_rate: str | None = None  # the same, as ffprobe's exact fraction ("24000/1001")
    width: int | None = None
    height: int | None = None
    n_frames: int | None = None  # video frames as the container declares (may be absent)
    video_duration: float | None = None
    audio_duration: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    format_name: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> str:
        """``"video"`` (with or without sound) or ``"audio"``."""
        return "video" if self.has_video else "audio"

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None

    def describe(self) -> str:
        parts = []
        if self.has_video:
            parts.append(f"video {self.width}x{self.height} @ {self.fps:.3g} fps" if self.fps else "video")
        if self.has_audio:
            parts.append(f"audio {self.sample_rate or '?'} Hz")
        return f"{self.duration:.2f} s, " + ", ".join(parts)


def _one_line(text: str, limit: int = 160) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    # ffmpeg prints "[demuxer @ 0x..] reason" then "file: Invalid data ..."; the first is the cause
    msg = lines[0] if lines else ""
    if msg.startswith("[") and "]" in msg:
        msg = msg.split("]", 1)[1].strip()
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def _rate(s: str | None) -> float | None:
    if not s or s in ("0/0", "N/A"):
        return None
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            v = float(num) / float(den) if float(den) else 0.0
        else:
            v = float(s)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if v > 0 and math.isfinite(v) else None


def _float(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v >= 0 else None


def _int(x: object) -> int | None:
    try:
        return int(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def check_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path, or :class:`MediaError` when it is missing or not a regular file."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if not p.is_file():
        raise MediaError(f"{p}: not a regular file (expected a video or audio file)")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: empty file (expected a video or audio file)")
    if not os.access(p, os.R_OK):
        raise MediaError(f"{p}: permission denied")
    return p


def parse_probe(path: Path, data: dict) -> MediaInfo:
    """Turn ffprobe's ``-show_format -show_streams`` JSON into :class:`MediaInfo` (pure)."""
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    fmt_name = str(fmt.get("format_name") or "")
    video = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not video and not audio:
        raise MediaError(f"{path}: not a media file (no video or audio stream found; expected a video or audio file)")
    v = video[0] if video else None
    a = audio[0] if audio else None
    if v is not None and any(k in fmt_name for k in _IMAGE_FORMATS) and not a:
        nb = _int(v.get("nb_frames"))
        if nb is None or nb <= 1:
            raise MediaError(f"{path}: a still image ({fmt_name}), not a video or audio file")
    fmt_dur = _float(fmt.get("duration"))
    v_dur = _float(v.get("duration")) if v else None
    a_dur = _float(a.get("duration")) if a else None
    fps = (_rate(v.get("avg_frame_rate")) or _rate(v.get("r_frame_rate"))) if v else None
    frame_rate = None
    if v is not None:
        frame_rate = next((str(v.get(k)) for k in ("avg_frame_rate", "r_frame_rate") if _rate(v.get(k))), None)
    n_frames = _int(v.get("nb_frames")) if v else None
    if v is not None and v_dur is None:
        v_dur = fmt_dur
    if a is not None and a_dur is None:
        a_dur = fmt_dur
    if v is not None and n_frames is None and v_dur and fps:
        n_frames = int(round(v_dur * fps))
    durations = [d for d in (v_dur, a_dur, fmt_dur) if d]
    duration = max(durations) if durations else 0.0
    if duration <= 0:
        raise MediaError(f"{path}: media with no duration (empty, truncated or a live stream)")
    notes = []
    if len(video) > 1:
        notes.append(f"{len(video)} video streams; using the first")
    if len(audio) > 1:
        notes.append(f"{len(audio)} audio streams; using the first")
    return MediaInfo(
        path=path,
        has_video=v is not None,
        has_audio=a is not None,
        duration=float(duration),
        fps=fps,
        frame_rate=frame_rate,
        width=_int(v.get("width")) if v else None,
        height=_int(v.get("height")) if v else None,
        n_frames=n_frames,
        video_duration=v_dur,
        audio_duration=a_dur,
        video_codec=str(v.get("codec_name")) if v else None,
        audio_codec=str(a.get("codec_name")) if a else None,
        sample_rate=_int(a.get("sample_rate")) if a else None,
        format_name=fmt_name,
        notes=tuple(notes),
    )


def _looks_like_text(path: Path) -> bool:
    """True when the first 4 KiB decode as UTF-8 with no control bytes (media containers never do)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        text = head.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return bool(text) and all(ch.isprintable() or ch in "\r\n\t\f" for ch in text)


#: libsndfile's subtypes -> ffprobe's codec names (WAV is little-endian); others keep libsndfile's name.
_PCM_CODECS = {
    "pcm_16": "pcm_s16le",
    "pcm_24": "pcm_s24le",
    "pcm_32": "pcm_s32le",
    "pcm_u8": "pcm_u8",
    "float": "pcm_f32le",
    "double": "pcm_f64le",
}


def probe_soundfile(path: Path) -> MediaInfo | None:
    """An audio file libsndfile reads (wav, flac, ogg/opus...) from its header, with no ffprobe process
    (about 8 % of the work on a clip of a few seconds); None when libsndfile cannot read it (ffprobe then)."""
    from feature_adapters.audio_io import SOUNDFILE_SUFFIXES

    if path.suffix.lower() not in SOUNDFILE_SUFFIXES:
        return None
    try:
        import soundfile as sf

        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - not for libsndfile: ffprobe decides
        return None
    if not info.frames or not info.samplerate:
        return None
    duration = info.frames / float(info.samplerate)
    fmt, sub = str(info.format or "").lower(), str(info.subtype or "").lower()
    codec = fmt if fmt == "flac" else _PCM_CODECS.get(sub, sub or fmt)  # as ffprobe names them
    return MediaInfo(
        path=path,
        has_video=False,
        has_audio=True,
        duration=duration,
        audio_duration=duration,
        audio_codec=codec,
        sample_rate=int(info.samplerate),
        format_name=fmt,
    )


def probe(path: str | os.PathLike) -> MediaInfo:
    """What ``path`` holds, via ffprobe (an audio file libsndfile reads: its header). Raises
    :class:`MediaError` (one line) when unusable."""
    p = check_file(path)
    quick = probe_soundfile(p)
    if quick is not None:
        return quick
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise MediaError("ffprobe is not installed (install ffmpeg: apt-get install ffmpeg)")
    cmd = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(p)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError(f"{p}: ffprobe took over {_PROBE_TIMEOUT_S} s (unreadable media?)") from None
    err = proc.stderr.decode("utf-8", "replace")
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        data = {}
    if proc.returncode != 0 or not data.get("streams"):
        if _looks_like_text(p):
            raise MediaError(f"{p}: not a media file (it holds text; expected a video or audio file)")
        reason = _one_line(err)
        low = reason.lower()
        if "moov atom not found" in low or "end of file" in low or "truncat" in low:
            raise MediaError(f"{p}: truncated or corrupt media file ({reason})")
        if "invalid data" in low or not reason:
            raise MediaError(f"{p}: not a media file or corrupt (expected a video or audio file)")
        raise MediaError(f"{p}: unreadable media file ({reason})")
    return parse_probe(p, data)


def frame_slot(i: int | np.ndarray, fps: float, max_rate: float) -> np.ndarray | int:
    """The ``1 / max_rate`` time slot frame ``i`` (at ``i / fps`` s) falls in (pure)."""
    return np.floor(np.asarray(i, dtype=np.float64) / fps * max_rate + 1e-9).astype(np.int64)


def is_sampled(i: int, fps: float, max_rate: float | None) -> bool:
    """Whether frame ``i`` is analysed when at most ``max_rate`` frames per second are kept.

    Frame ``i`` is kept when it is the first frame of its ``1 / max_rate`` slot
    (every frame when ``max_rate`` is None or not below ``fps``), so kept frames
    are evenly spread.
    """
    if max_rate is None or not fps or max_rate >= fps - 1e-9 or i <= 0:
        return True
    return bool(frame_slot(i, fps, max_rate) != frame_slot(i - 1, fps, max_rate))


def sample_times(n_frames: int, fps: float, max_rate: float | None) -> np.ndarray:
    """Indices of the frames :func:`is_sampled` keeps among ``n_frames`` (pure, vectorised)."""
    n = max(int(n_frames), 0)
    idx = np.arange(n)
    if max_rate is None or not fps or max_rate >= fps - 1e-9:
        return idx
    if max_rate <= 0:
        raise ValueError(f"face sampling rate must be > 0, got {max_rate}")
    slot = frame_slot(idx, fps, max_rate)
    first = np.ones(n, dtype=bool)
    first[1:] = slot[1:] != slot[:-1]
    return idx[first]


class VideoReader:
    """Decodes a video's frames in order with OpenCV. Use as a context manager.

    ``frames(keep=...)`` yields ``(index, time_s, frame_bgr)``; with a ``keep``
    predicate over frame indices, the other frames are grabbed but not
    converted. ``decoded`` counts frames read so far; :meth:`check_complete`
    raises :class:`MediaError` when decoding stopped well before the probed end
    (a truncated file).
    """

    def __init__(self, info: MediaInfo):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # no libav warnings on the terminal
        import cv2

        if not info.has_video:
            raise MediaError(f"{info.path}: no video stream")
        self.info = info
        self.fps = float(info.fps or 25.0)
        self._cap = cv2.VideoCapture(str(info.path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            self._cap.release()
            raise MediaError(f"{info.path}: OpenCV cannot open the video stream (corrupt or unsupported codec)")
        self.decoded = 0

    def frames(self, keep=None) -> Iterator[tuple[int, float, np.ndarray]]:
        cap = self._cap
        while True:
            i = self.decoded
            want = keep is None or keep(i)
            if want:
                ok, frame = cap.read()
            else:
                ok, frame = cap.grab(), None
            if not ok:
                return
            self.decoded += 1
            if want:
                if frame is None:
                    return
                yield i, i / self.fps, frame

    def check_complete(self, allow_truncated: bool = False) -> float | None:
        """Raise :class:`MediaError` when no frame decoded, or when the frames stop early (unless
        ``allow_truncated``: then the seconds decoded are returned). None when the video is complete."""
        expected = self.info.video_duration or self.info.duration
        got = self.decoded / self.fps
        if self.decoded == 0:
            raise MediaError(f"{self.info.path}: no video frame could be decoded (corrupt or truncated file)")
        if expected and got < MIN_DECODED_FRACTION * expected - 2.0 / self.fps:
            if allow_truncated:
                return got
            raise MediaError(
                f"{self.info.path}: truncated or corrupt video (frames stop at {got:.2f} s of {expected:.2f} s)"
            )
        return None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def audio_truncated(info: MediaInfo, seconds: float) -> bool:
    """Whether ``seconds`` of decoded audio fall short of what the container announced (pure)."""
    return bool(info.audio_duration) and seconds < MIN_DECODED_FRACTION * float(info.audio_duration) - 0.1


def load_audio_track(info: MediaInfo, sr: int = 16000, allow_truncated: bool = False) -> np.ndarray:
    """The first audio stream as float32 mono at ``sr`` Hz; :class:`MediaError` when undecodable, or when it
    stops early unless ``allow_truncated`` (see :func:`audio_truncated`)."""
    from feature_adapters.audio_io import AudioDecodeError, load_audio

    try:
        y = load_audio(info.path, sr=sr)
    except AudioDecodeError as exc:
        raise MediaError(str(exc).strip().splitlines()[0]) from None
    if y.size == 0:
        raise MediaError(f"{info.path}: no audio could be decoded (corrupt or truncated file)")
    if not allow_truncated and audio_truncated(info, y.size / sr):
        raise MediaError(
            f"{info.path}: truncated or corrupt audio (decodes to {y.size / sr:.2f} s of {info.audio_duration:.2f} s)"
        )
    return y


def expand_inputs(inputs: list[str | os.PathLike], suffixes: frozenset[str] = MEDIA_SUFFIXES) -> list[Path]:
    """Files as given, folders expanded (recursively, sorted) to the media files inside (those with ``suffixes``).

    A folder with no media file raises :class:`MediaError`. Files given by name
    are kept whatever their suffix (probing decides); duplicates are dropped.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in suffixes
                and not f.name.startswith(".")
                and ".annotated." not in f.name
            )
            if not found:
                raise MediaError(f"{p}: folder holds no video or audio files ({', '.join(sorted(suffixes))})")
            items = found
        else:
            items = [p]
        for f in items:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out
