"""File mode: the live pipeline driven by decoding a file as fast as possible.

For one input, :func:`analyse_file`

1. probes it (:mod:`livemer.media`);
2. runs the face backend over the video frames, sampled at up to
   ``face_fps`` frames per second (face found -> a valid Facet-35 row; no face
   -> the step's visual part is masked, not faked);
3. meanwhile, in two more threads, extracts acoustic frames over the whole
   audio (offline extractor + COVAREP-74 adapter; voiced frames are valid) and
   transcribes it in one pass (``transcribe_file_audio``), then turns the words
   into text steps;
4. cuts, every ``hop`` seconds, exactly the window live capture would have
   produced at that time (:func:`feature_adapters.align.windows_at`) and runs
   them through the model in batches.

A video with no audio track runs with the visual modality only (acoustic and
text are masked and the result says why); an audio-only file runs acoustic and
text (visual masked). The outcome is a typed :class:`FileResult`.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import LivemerError
from .loading import import_heavy
from .media import MediaError, MediaInfo, VideoReader, is_sampled, load_audio_track, probe

log = logging.getLogger(__name__)

MODALITIES = ("text", "acoustic", "visual")
SR = 16000
DEFAULT_HOP = 0.2  # seconds between windows (5 Hz, as live inference)
#: Face analyses per second of video: one per 0.2 s window hop, so every window step sees a face frame.
#: MediaPipe costs 25-33 ms of CPU a frame on this 2-core box; at 5/s the whole analysis (face + acoustic +
#: ASR) runs at about 4x real time here (8/s: 3.2x). ``--face-fps`` raises it for denser visual sampling.
DEFAULT_FACE_FPS = 5.0

#: progress(seconds) receives increments of media time processed, from the calling thread.
ProgressFn = Callable[[float], None]


@dataclass
class OfflineSettings:
    """How a file is analysed (the engine holds the model-side settings)."""

    hop: float = DEFAULT_HOP
    face_fps: float = DEFAULT_FACE_FPS
    batch_size: int = 256

    def __post_init__(self) -> None:
        if not (self.hop > 0 and math.isfinite(self.hop)):
            raise LivemerError(f"--hop must be a positive number of seconds, got {self.hop}")
        if not (self.face_fps > 0 and math.isfinite(self.face_fps)):
            raise LivemerError(f"--face-fps must be a positive rate, got {self.face_fps}")

    def tolerance(self) -> float:
        """Seconds a step may reach for the nearest frame when none falls inside it.

        Half a face-sampling period (at least the aligner's default), so a short
        word between two sampled frames still sees the face.
        """
        from feature_adapters.align import DEFAULT_TOLERANCE

        return max(DEFAULT_TOLERANCE, 0.5 / self.face_fps + 1e-3)


@dataclass
class FaceTrack:
    """The face backend's results on the sampled frames of a video."""

    times: np.ndarray  # (n,) seconds
    found: np.ndarray  # (n,) bool
    features: np.ndarray  # (n, d_v) Facet-35 rows (zeros where no face)
    valid: np.ndarray  # (n,) bool: usable rows
    results: list  # FaceResult per sample (for boxes and AUs in the overlay)
    backend: str = ""
    frames_decoded: int = 0

    def index_at(self, t: float) -> int | None:
        """The latest sample at or before ``t`` (None before the first)."""
        i = int(np.searchsorted(self.times, t + 1e-9, "right")) - 1
        return i if i >= 0 else None

    @property
    def face_fraction(self) -> float:
        return float(self.found.mean()) if len(self.found) else 0.0


@dataclass
class AudioAnalysis:
    """Acoustic frames (COVAREP-74) and the transcript of a file's audio."""

    times: np.ndarray  # (n,) acoustic frame centres
    features: np.ndarray  # (n, d_a)
    valid: np.ndarray  # (n,) voiced
    words: list  # TimedWord (as recognised)
    tokens: list  # TextToken (text steps with vectors)
    duration: float


@dataclass
class FileResult:
    """Everything ``livemer file`` found in one input; rows are windows ending every ``hop`` seconds."""

    path: Path
    info: MediaInfo
    duration: float
    emotions: list[str]
    user_added: list[str]
    modalities_requested: tuple[str, ...]
    times: np.ndarray  # (n,) window end (the time the result is for)
    window_start: np.ndarray  # (n,) first real step's start (NaN: empty window)
    probabilities: np.ndarray  # (n, K) raw model output; NaN rows: no modality observed
    modality_scores: dict[str, np.ndarray]  # modality -> (n, K); NaN where the modality was not used
    contributions: dict[str, np.ndarray]  # modality -> (n, K); NaN where not used
    modalities_used: list[str]  # per row, letters such as "tav"
    face_present: np.ndarray  # (n,) bool: a face in the latest analysed frame before the row's time
    voice_present: np.ndarray  # (n,) bool: voiced audio during the last hop
    words: list[str]  # per row: the words in the window (what the model read)
    new_words: list[str]  # per row: words that ended during the last hop
    transcript: list  # TimedWord
    face: FaceTrack | None = None
    masked: dict[str, str] = field(default_factory=dict)  # modality -> why it is absent everywhere
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    windows: list | None = None  # the model's input windows, kept only when asked (few-shot examples)

    @property
    def n(self) -> int:
        return int(self.times.shape[0])

    @property
    def hop(self) -> float:
        return float(self.settings.get("hop", DEFAULT_HOP))

    @property
    def modalities_present(self) -> tuple[str, ...]:
        return tuple(m for m in self.modalities_requested if m not in self.masked)

    @property
    def transcript_text(self) -> str:
        return " ".join(w.word.strip() for w in self.transcript).strip()

    def summary(self) -> dict[str, dict[str, float | None]]:
        """Per emotion: mean and max probability over windows, and seconds above 0.5.

        Windows with no observed modality (NaN) are left out of mean and max;
        each window above 0.5 counts ``hop`` seconds.
        """
        return summarise(self.emotions, self.probabilities, self.hop)

    def top_emotion(self) -> tuple[str, float] | None:
        s = self.summary()
        best = [(e, v["mean"]) for e, v in s.items() if v["mean"] is not None]
        return max(best, key=lambda x: x[1]) if best else None


def summarise(emotions: Sequence[str], probs: np.ndarray, hop: float) -> dict[str, dict[str, float | None]]:
    """Per-emotion ``mean``, ``max`` (NaN rows ignored) and ``seconds_above_0_5`` (pure)."""
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(emotions)) if len(emotions) else np.zeros((0, 0))
    out: dict[str, dict[str, float | None]] = {}
    for k, e in enumerate(emotions):
        col = probs[:, k]
        ok = col[~np.isnan(col)]
        out[e] = {
            "mean": float(ok.mean()) if ok.size else None,
            "max": float(ok.max()) if ok.size else None,
            "seconds_above_0_5": float(np.count_nonzero(ok > 0.5) * hop),
        }
    return out


def window_times(duration: float, hop: float) -> np.ndarray:
    """``hop, 2 hop, ...`` up to ``duration`` (the last window ends at ``duration`` exactly) (pure)."""
    if duration <= 0:
        return np.zeros(0)
    k = int(math.floor(duration / hop + 1e-9))
    t = hop * np.arange(1, k + 1, dtype=np.float64)
    if not len(t) or duration - t[-1] > 1e-6:
        t = np.append(t, duration)
    return t


def presence_in_hops(times: np.ndarray, valid: np.ndarray, ends: np.ndarray, hop: float) -> np.ndarray:
    """For each end time ``e``: whether any valid frame lies in ``[e - hop, e)`` (pure).

    Frames at ``e`` itself are not yet seen, as in the aligner (causal windows).
    """
    tv = np.asarray(times, dtype=np.float64)[np.asarray(valid, dtype=bool)]
    ends = np.asarray(ends, dtype=np.float64)
    if tv.size == 0:
        return np.zeros(ends.shape, dtype=bool)
    hi = np.searchsorted(tv, ends - 1e-9, "left")
    lo = np.searchsorted(tv, ends - hop - 1e-9, "left")
    return hi > lo


def latest_before(times: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each end time ``e``: the index of the last time strictly before ``e`` (-1 when none) (pure)."""
    return np.searchsorted(np.asarray(times, dtype=np.float64), np.asarray(ends, dtype=np.float64) - 1e-9, "left") - 1


def words_in_hops(tokens: Sequence, ends: np.ndarray, hop: float) -> list[str]:
    """For each end time ``e``: the tokens whose end lies in ``(e - hop, e]``, space-joined (pure)."""
    out = []
    t_end = np.array([float(t.end) for t in tokens], dtype=np.float64)
    for e in np.asarray(ends, dtype=np.float64):
        sel = np.flatnonzero((t_end > e - hop + 1e-9) & (t_end <= e + 1e-9))
        out.append(" ".join(_token_text(tokens[i]) for i in sel))
    return out


def _token_text(tok) -> str:
    return str(getattr(tok, "token", None) or getattr(tok, "word", "")).strip()


# --------------------------------------------------------------------------- stages


_TS_LAST: "weakref.WeakKeyDictionary[Any, float]" = weakref.WeakKeyDictionary()


def _timestamp_base(backend) -> float:
    """Milliseconds to add to this file's frame times so a reused tracker sees time move on."""
    try:
        last = _TS_LAST.get(backend)
    except TypeError:
        return 0.0
    return 0.0 if last is None else last + 1000.0


def analyse_faces(engine, info: MediaInfo, face_fps: float, progress: ProgressFn | None = None,
                  stop: threading.Event | None = None) -> FaceTrack:
    """Face backend over the video, at most ``face_fps`` analysed frames per second.

    ``progress`` receives increments of video seconds decoded.
    """
    d_v = engine.dims[2]
    backend = engine.face_backend()
    fps = float(info.fps or 25.0)
    base = _timestamp_base(backend)
    times, found, feats, valid, results = [], [], [], [], []
    reported = 0.0
    with VideoReader(info) as reader:
        for _i, t, frame in reader.frames(keep=lambda k: is_sampled(k, fps, face_fps)):
            if stop is not None and stop.is_set():
                break
            res = backend.process(frame, base + t * 1000.0)
            row, ok = engine.visual_row(res)
            times.append(t)
            found.append(bool(res.face_found))
            feats.append(row)
            valid.append(ok)
            res.landmarks = None  # the overlay needs the box and AUs only; keeps memory flat
            results.append(res)
            if progress is not None and t - reported >= 0.5:
                progress(t - reported)
                reported = t
        decoded = reader.decoded
        try:
            _TS_LAST[backend] = base + (decoded / fps) * 1000.0
        except TypeError:
            pass
        if stop is None or not stop.is_set():
            reader.check_complete()
    if progress is not None:
        progress(max(0.0, decoded / fps - reported))
    return FaceTrack(
        times=np.asarray(times, dtype=np.float64),
        found=np.asarray(found, dtype=bool),
        features=np.asarray(feats, dtype=np.float32).reshape(len(times), d_v),
        valid=np.asarray(valid, dtype=bool),
        results=results,
        backend=getattr(backend, "name", ""),
        frames_decoded=decoded,
    )


def analyse_audio(engine, info: MediaInfo, want_acoustic: bool, want_text: bool,
                  timings: dict[str, float] | None = None, pool: ThreadPoolExecutor | None = None) -> AudioAnalysis:
    """Acoustic frames and transcript of the whole audio track.

    With a ``pool`` the transcription runs there, in parallel with the acoustic features.
    """
    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    audio = load_audio_track(info, SR)
    timings["audio_decode"] = time.perf_counter() - t0
    duration = audio.size / SR
    d_a = engine.dims[1]

    def transcribe() -> tuple[list, list]:
        t1 = time.perf_counter()
        words = list(engine.asr().transcribe_file_audio(audio))
        tokens = engine.embed(words)
        timings["asr"] = time.perf_counter() - t1
        return words, tokens

    asr_job = pool.submit(transcribe) if (want_text and pool is not None) else None
    times = np.zeros(0)
    feats = np.zeros((0, d_a), np.float32)
    valid = np.zeros(0, bool)
    try:
        if want_acoustic:
            import_heavy("acoustic")  # serialised with the face and ASR imports of the other threads
            from feature_adapters.acoustic import extract_acoustic

            t1 = time.perf_counter()
            frames = extract_acoustic(audio, SR)
            times, feats, valid = engine.acoustic_rows(frames)
            timings["acoustic"] = time.perf_counter() - t1
    finally:
        if asr_job is not None:
            words, tokens = asr_job.result()
    if asr_job is None:
        words, tokens = transcribe() if want_text else ([], [])
    return AudioAnalysis(times, np.asarray(feats, np.float32).reshape(-1, d_a), np.asarray(valid, bool),
                         words, tokens, duration)


def _word_inputs(tokens: Sequence) -> list:
    from feature_adapters.align import WordInput

    out = []
    for tok in tokens:
        oov = bool(getattr(tok, "oov", False))
        out.append(WordInput(_token_text(tok), float(tok.start), float(tok.end),
                             None if oov else np.asarray(tok.vector, np.float32), oov))
    return out


# --------------------------------------------------------------------------- the whole file


def analyse_file(engine, path: str | Path, settings: OfflineSettings | None = None,
                 progress: ProgressFn | None = None, info: MediaInfo | None = None,
                 keep_windows: bool = False) -> FileResult:
    """Run the whole pipeline on one file; raises :class:`MediaError` (one line) when it is unusable.

    ``keep_windows`` keeps the model's input windows in the result (``FileResult.windows``).
    """
    from feature_adapters.align import windows_at

    settings = settings or OfflineSettings()
    t_all = time.perf_counter()
    info = info or probe(path)
    mods = tuple(engine.modalities)
    emotions = list(engine.emotions)
    user_added = sorted(e for e in engine.user_added if e in emotions)
    masked: dict[str, str] = {}
    notices: list[str] = list(info.notes)
    timings: dict[str, float] = {}

    want_visual = "visual" in mods
    want_acoustic = "acoustic" in mods
    want_text = "text" in mods
    if want_visual and not info.has_video:
        masked["visual"] = "no video stream"
        want_visual = False
    if not info.has_audio:
        for m in ("acoustic", "text"):
            if m in mods:
                masked[m] = "no audio track"
        want_acoustic = want_text = False
    if not info.has_video:
        notices.append("audio only: the visual modality is masked")
    elif not info.has_audio:
        notices.append("video has no audio track: acoustic and text are masked")

    done = [0.0]

    def step(dt: float) -> None:
        done[0] += dt
        if progress is not None:
            progress(dt)

    d_t, d_a, d_v = engine.dims
    audio_res: AudioAnalysis | None = None
    face: FaceTrack | None = None
    stop = threading.Event()
    # three parallel jobs: face (here), acoustic features and speech recognition (pool threads)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="livemer-audio") as pool:
        fut = None
        if want_acoustic or want_text:
            fut = pool.submit(analyse_audio, engine, info, want_acoustic, want_text, timings, pool)
        try:
            if want_visual:
                t0 = time.perf_counter()
                face = analyse_faces(engine, info, settings.face_fps, step, stop)
                timings["face"] = time.perf_counter() - t0
            if fut is not None:
                audio_res = fut.result()
        except BaseException:
            stop.set()
            raise
    duration = float(info.duration)
    if done[0] < duration:
        step(duration - done[0])  # audio-only work, or audio longer than the video

    if face is not None and not face.found.any():
        masked["visual"] = "no face found in any analysed frame"
    if audio_res is not None:
        if want_acoustic and not audio_res.valid.any():
            masked["acoustic"] = "no voiced audio (silence)"
        if want_text and not audio_res.tokens:
            masked["text"] = "no speech recognised"

    # -- windows and the model
    t0 = time.perf_counter()
    times = window_times(duration, settings.hop)
    vis = (face.times, face.features, face.valid) if face is not None and len(face.times) else None
    aco = (audio_res.times, audio_res.features, audio_res.valid) if audio_res is not None and len(audio_res.times) else None
    tokens = audio_res.tokens if audio_res is not None else []
    windows = windows_at(
        _word_inputs(tokens), aco, vis, times, t_start=0.0, n=engine.config.window_steps,
        pseudo_step=engine.config.pseudo_step, tolerance=settings.tolerance(),
        text_dim=d_t, acoustic_dim=d_a, visual_dim=d_v,
    )
    timings["align"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = engine.predict_windows(windows, emotions, mods, batch_size=settings.batch_size) if windows else []
    timings["model"] = time.perf_counter() - t0

    n, K = len(windows), len(emotions)
    probs = np.full((n, K), np.nan)
    scores = {m: np.full((n, K), np.nan) for m in mods}
    contrib = {m: np.full((n, K), np.nan) for m in mods}
    used: list[str] = []
    from .engine import modality_letters

    for i, p in enumerate(preds):
        probs[i] = np.asarray(p.probabilities, dtype=np.float64)
        for m, v in p.modality_scores.items():
            if m in scores:
                scores[m][i] = np.asarray(v, dtype=np.float64)
        for m, v in p.contributions.items():
            if m in contrib:
                contrib[m][i] = np.asarray(v, dtype=np.float64)
        used.append(modality_letters(p.modalities_used))
    starts = np.array([w.span[0] for w in windows], dtype=np.float64)
    words = [" ".join(x for x in w.words if x) for w in windows]
    new_words = words_in_hops(tokens, times, settings.hop)
    if face is not None and len(face.times):
        idx = latest_before(face.times, times)
        recent = (idx >= 0) & (times - face.times[np.clip(idx, 0, None)] <= max(1.0, 2.0 / settings.face_fps))
        face_present = recent & face.found[np.clip(idx, 0, None)]
    else:
        face_present = np.zeros(n, dtype=bool)
    if audio_res is not None and len(audio_res.times):
        voice_present = presence_in_hops(audio_res.times, audio_res.valid, times, settings.hop)
    else:
        voice_present = np.zeros(n, dtype=bool)
    timings["total"] = time.perf_counter() - t_all
    for m, why in masked.items():
        if why not in ("no video stream", "no audio track"):
            notices.append(f"{m} masked: {why}")
    settings_d = {
        "hop": settings.hop,
        "face_fps": settings.face_fps,
        "tolerance": settings.tolerance(),
        "window_steps": engine.config.window_steps,
        "pseudo_step": engine.config.pseudo_step,
        "modalities": modality_letters(mods),
    }
    return FileResult(
        path=Path(info.path), info=info, duration=duration, emotions=emotions, user_added=user_added,
        modalities_requested=mods, times=times, window_start=starts, probabilities=probs,
        modality_scores=scores, contributions=contrib, modalities_used=used,
        face_present=np.asarray(face_present, bool), voice_present=np.asarray(voice_present, bool),
        words=words, new_words=new_words, transcript=list(audio_res.words) if audio_res else [],
        face=face, masked=masked, notices=notices, timings=timings, settings=settings_d,
        windows=list(windows) if keep_windows else None,
    )


__all__ = [
    "OfflineSettings", "FaceTrack", "AudioAnalysis", "FileResult", "analyse_file", "analyse_faces",
    "analyse_audio", "summarise", "window_times", "presence_in_hops", "latest_before", "words_in_hops", "MediaError",
]
