"""The file driver of ``livemer file``: a session's stages over whole files, as fast as they decode.

:class:`FileDriver` keeps one :class:`livemer.session.Session` (its stages load
once, in background threads) for every input. For one input,
:meth:`FileDriver.analyse`

1. probes it (:mod:`livemer.media`);
2. pushes the video frames the face stage samples (``face_fps`` per second,
   the same slot rule as live) through it (face found -> a valid Facet-35 row;
   no face -> the step's visual part is masked, not faked);
3. meanwhile, in two more threads, runs the voice stage over the whole audio
   (acoustic frames, voiced ones valid) and the speech stage in one pass, then
   turns the words into text steps;
4. cuts, every ``hop`` seconds, exactly the window the live driver's session
   gives at that time (:meth:`Session.windows_at`), runs them through the model
   in batches and smooths them with the session's smoother.

A video with no audio track runs with the visual modality only (acoustic and
text are masked and the result says why); an audio-only file runs acoustic and
text (visual masked). The outcome is a typed :class:`FileResult`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .engine import modality_letters
from .errors import LivemerError
from .faces import FaceRows, TrackedFaces, score_faces
from .media import MediaError, MediaInfo, VideoReader, load_audio_track, probe
from .session import STAGE_WHAT, STAGES, Session, SessionOptions
from .stages import AcousticRows, FaceOptions, SpeechOptions, VoiceOptions, face_presence, voice_presence

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
    # faces found per frame; above 1 each is tracked (stable ids) and gets its own visual and fused scores and
    # rows (livemer.faces); the scene's series (probabilities, the timeline) follow the largest face of each frame
    max_faces: int = 1
    # NumPy BLAS threads while a file is analysed. The same number in every process (the CLI's, a pool worker, a
    # Dask worker), whatever the process's own default: BLAS sums in a thread-count dependent order, and the
    # mel spectrograms of speech recognition and the acoustic features change with it (words, timings, scores).
    blas_threads: int = 1

    def __post_init__(self) -> None:
        if not (self.hop > 0 and math.isfinite(self.hop)):
            raise LivemerError(f"--hop must be a positive number of seconds, got {self.hop}")
        if not (self.face_fps > 0 and math.isfinite(self.face_fps)):
            raise LivemerError(f"--face-fps must be a positive rate, got {self.face_fps}")
        if int(self.blas_threads) < 1:
            raise LivemerError(f"blas_threads must be at least 1, got {self.blas_threads}")

    def tolerance(self) -> float:
        """Seconds a step may reach for the nearest frame when none falls inside it.

        Half a face-sampling period (at least the aligner's default), so a short
        word between two sampled frames still sees the face.
        """
        return FaceOptions(rate_hz=self.face_fps).tolerance()


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
    tracked: TrackedFaces | None = None  # every face of every sample with its id (max_faces > 1)

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
    valid: np.ndarray  # (n,) voiced speech
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
    voice_present: np.ndarray  # (n,) bool: voiced speech lately (the voice stage's presence rule)
    words: list[str]  # per row: the words in the window (what the model read)
    new_words: list[str]  # per row: words that ended during the last hop
    transcript: list  # TimedWord
    face: FaceTrack | None = None
    smoothed: np.ndarray | None = None  # (n, K) smoothed over time as live smooths (the annotated video's bars)
    masked: dict[str, str] = field(default_factory=dict)  # modality -> why it is absent everywhere
    voice: list[str] = field(default_factory=list)  # per row: "speech", or why not ("" when not analysed)
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    windows: list | None = None  # the model's input windows, kept only when asked (few-shot examples)
    #: With several faces tracked (max_faces > 1): each face's own rows and scores (livemer.faces).
    face_rows: list[FaceRows] = field(default_factory=list)

    @property
    def tracks_faces(self) -> bool:
        """Several faces were tracked: the per-window outputs have a row per face (``face_id``)."""
        return self.face is not None and self.face.tracked is not None

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


# --------------------------------------------------------------------------- the driver


def decoded_duration(info: MediaInfo, face: FaceTrack | None, audio: AudioAnalysis | None) -> float:
    """The media's duration, or where a truncated video or audio track stops decoding (pure)."""
    from .media import MIN_DECODED_FRACTION, audio_truncated

    ends = [float(info.duration)]
    if face is not None and info.fps:
        got = face.frames_decoded / float(info.fps)
        expected = info.video_duration or info.duration
        if expected and got < MIN_DECODED_FRACTION * expected - 2.0 / float(info.fps):
            ends.append(got)
    if audio is not None and audio_truncated(info, audio.duration):
        ends.append(float(audio.duration))
    return min(ends)


class FileDriver:
    """One session's stages over whole files, as fast as they decode; one driver for many inputs."""

    def __init__(
        self,
        engine,
        settings: OfflineSettings | None = None,
        components: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> None:
        """``components`` may hand in ready backends (``{"face": ..., "asr": ...}``), as :class:`Session` takes."""
        self.engine = engine
        self.settings = settings or OfflineSettings()
        self.session = session or Session(self.session_options(), engine, components)
        self._stop = threading.Event()
        # acoustic features and speech recognition: two threads kept for every input (new threads per input
        # would give the native libraries new per-thread state each time)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="livemer-audio")

    def session_options(self) -> SessionOptions:
        """Face sampling at ``face_fps``, the recogniser's one-pass preset, only the stages the modalities need."""
        cfg = self.engine.config
        need = {"face": "visual", "voice": "acoustic", "speech": "text"}
        mods = set(self.engine.modalities)
        return SessionOptions(
            face=FaceOptions(
                backend=cfg.face_backend, rate_hz=self.settings.face_fps, max_faces=self.settings.max_faces
            ),
            speech=SpeechOptions.file(model=cfg.asr_model, threads=1),
            voice=VoiceOptions.gated(cfg.speech_gate),
            stages=tuple(n for n in STAGES if need[n] in mods),
        )

    def _stage(self, name: str, masked: dict[str, str], modality: str) -> bool:
        """Whether stage ``name`` is ready; a stage that failed to load masks its modality (with the reason)."""
        self.session.preload()
        if self.session.wait_stage(name):
            return True
        masked[modality] = f"{STAGE_WHAT[name][0]} unavailable"
        return False

    def analyse_faces(self, info: MediaInfo, progress: ProgressFn | None = None) -> FaceTrack:
        """The face stage over the video; ``progress`` receives increments of video seconds decoded."""
        face = self.session.face
        face.reset()
        opts = face.options
        fps = float(info.fps or 25.0)
        obs = []
        tracked = TrackedFaces() if face.tracker is not None else None
        reported = 0.0
        with VideoReader(info) as reader:
            # the face stage's slot rule on frame indexes: unsampled frames are not even decoded
            for _i, t, frame in reader.frames(keep=lambda k: opts.due(k / fps, (k - 1) / fps)):
                if self._stop.is_set():
                    break
                o = face.push(t, frame, force=True)
                for f in (o.result, *getattr(o.result, "others", ())):
                    f.landmarks = None  # the overlay needs the boxes and AUs only; keeps memory flat
                obs.append(o)
                if tracked is not None:
                    tracked.add(o)
                if progress is not None and t - reported >= 0.5:
                    progress(t - reported)
                    reported = t
            decoded = reader.decoded
            face.end_stream(decoded / fps)
            if not self._stop.is_set():
                reader.check_complete(allow_truncated=True)  # a truncated video is analysed up to its end
        if progress is not None:
            progress(max(0.0, decoded / fps - reported))
        return FaceTrack(
            times=np.asarray([o.t for o in obs], dtype=np.float64),
            found=np.asarray([o.found for o in obs], dtype=bool),
            features=np.asarray([o.row for o in obs], dtype=np.float32).reshape(len(obs), face.dim),
            valid=np.asarray([o.valid for o in obs], dtype=bool),
            results=[o.result for o in obs],
            backend=getattr(face.backend, "name", ""),
            frames_decoded=decoded,
            tracked=tracked,
        )

    def analyse_audio(
        self,
        info: MediaInfo,
        want_acoustic: bool,
        want_text: bool,
        timings: dict[str, float] | None = None,
        pool: ThreadPoolExecutor | None = None,
    ) -> AudioAnalysis:
        """The voice stage and the speech stage over the whole audio track (with a ``pool``, in parallel)."""
        timings = timings if timings is not None else {}
        t0 = time.perf_counter()
        audio = load_audio_track(info, SR, allow_truncated=True)
        timings["audio_decode"] = time.perf_counter() - t0
        speech = self.session.speech

        def transcribe() -> tuple[list, list]:
            t1 = time.perf_counter()
            words = speech.transcribe(audio)
            tokens = self.engine.embed(words)
            timings["asr"] = time.perf_counter() - t1
            return words, tokens

        asr_job = pool.submit(transcribe) if (want_text and pool is not None) else None
        rows = AcousticRows.empty(self.engine.frame_dims[1])
        try:
            if want_acoustic:
                t1 = time.perf_counter()
                rows = self.session.voice.analyse(audio)
                timings["acoustic"] = time.perf_counter() - t1
        finally:
            if asr_job is not None:
                words, tokens = asr_job.result()
        if asr_job is None:
            words, tokens = transcribe() if want_text else ([], [])
        return AudioAnalysis(
            rows.times,
            rows.features.reshape(-1, self.engine.frame_dims[1]),
            rows.voiced,
            words,
            tokens,
            audio.size / SR,
        )

    def analyse(
        self,
        path: str | Path,
        progress: ProgressFn | None = None,
        info: MediaInfo | None = None,
        keep_windows: bool = False,
    ) -> FileResult:
        """Run every stage on one file; raises :class:`MediaError` (one line) when it is unusable.

        ``keep_windows`` keeps the model's input windows in the result (``FileResult.windows``).
        Runs with ``settings.blas_threads`` BLAS threads, so the result does not depend on the process.
        """
        from threadpoolctl import threadpool_limits

        # the stages load first: the BLAS libraries they bring are then among those limited
        self.session.load(wait=tuple(self.session.options.stages))
        with threadpool_limits(limits=int(self.settings.blas_threads), user_api="blas"):
            return self._analyse(path, progress, info, keep_windows)

    def _analyse(
        self, path: str | Path, progress: ProgressFn | None, info: MediaInfo | None, keep_windows: bool
    ) -> FileResult:
        settings, engine, session = self.settings, self.engine, self.session
        t_all = time.perf_counter()
        info = info or probe(path)
        mods = tuple(engine.modalities)
        emotions = list(engine.emotions)
        masked: dict[str, str] = {}
        notices: list[str] = list(info.notes)
        timings: dict[str, float] = {}
        session.start(t0=0.0)

        if "visual" in mods and not info.has_video:
            masked["visual"] = "no video stream"
        if not info.has_audio:
            masked.update({m: "no audio track" for m in ("acoustic", "text") if m in mods})
        if not info.has_video:
            notices.append("audio only: the visual modality is masked")
        elif not info.has_audio:
            notices.append("video has no audio track: acoustic and text are masked")
        want_visual = "visual" in mods and "visual" not in masked and self._stage("face", masked, "visual")
        want_acoustic = "acoustic" in mods and "acoustic" not in masked and self._stage("voice", masked, "acoustic")
        want_text = "text" in mods and "text" not in masked and self._stage("speech", masked, "text")

        done = [0.0]

        def step(dt: float) -> None:
            done[0] += dt
            if progress is not None:
                progress(dt)

        audio_res: AudioAnalysis | None = None
        face: FaceTrack | None = None
        self._stop.clear()
        # three parallel jobs: face (here), acoustic features and speech recognition (pool threads)
        fut = None
        if want_acoustic or want_text:
            fut = self._pool.submit(self.analyse_audio, info, want_acoustic, want_text, timings, self._pool)
        try:
            if want_visual:
                t0 = time.perf_counter()
                face = self.analyse_faces(info, step)
                timings["face"] = time.perf_counter() - t0
            if fut is not None:
                audio_res = fut.result()
        except BaseException:
            self._stop.set()
            if fut is not None:
                try:
                    fut.result()  # let the audio job end before the next input uses the pool
                except BaseException:  # noqa: BLE001 - the first error is the one reported
                    pass
            raise
        duration = decoded_duration(info, face, audio_res)
        if duration < float(info.duration):
            notices.append(
                f"truncated or corrupt media: it decodes to {duration:.2f} s of {float(info.duration):.2f} s; "
                "analysed up to there"
            )
        if done[0] < duration:
            step(duration - done[0])  # audio-only work, or audio longer than the video

        if face is not None and not face.found.any():
            masked["visual"] = "no face found in any analysed frame"
        if audio_res is not None:
            if want_acoustic and not audio_res.valid.any():
                masked["acoustic"] = self._no_voice_reason()
            if want_text and not audio_res.tokens:
                masked["text"] = "no speech recognised"

        # -- windows, the model and smoothing
        t0 = time.perf_counter()
        times = window_times(duration, settings.hop)
        vis = (face.times, face.features, face.valid) if face is not None and len(face.times) else None
        aco = (
            (audio_res.times, audio_res.features, audio_res.valid)
            if audio_res is not None and len(audio_res.times)
            else None
        )
        tokens = audio_res.tokens if audio_res is not None else []
        windows = session.windows_at(times, tokens, aco, vis)
        timings["align"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        preds = engine.predict_windows(windows, emotions, mods, batch_size=settings.batch_size) if windows else []
        timings["model"] = time.perf_counter() - t0

        n, K = len(windows), len(emotions)
        probs = np.full((n, K), np.nan)
        scores = {m: np.full((n, K), np.nan) for m in mods}
        contrib = {m: np.full((n, K), np.nan) for m in mods}
        used: list[str] = []
        for i, p in enumerate(preds):
            probs[i] = np.asarray(p.probabilities, dtype=np.float64)
            for m, v in p.modality_scores.items():
                if m in scores:
                    scores[m][i] = np.asarray(v, dtype=np.float64)
            for m, v in p.contributions.items():
                if m in contrib:
                    contrib[m][i] = np.asarray(v, dtype=np.float64)
            used.append(modality_letters(p.modalities_used))
        face_rows: list[FaceRows] = []
        if face is not None and face.tracked is not None and n and "visual" not in masked:
            t0 = time.perf_counter()
            scene = {m: scores[m] for m in ("text", "acoustic") if m in scores}
            hold = session.options.face.hold()
            face_rows = score_faces(
                session, engine, face.times, face.tracked, times, tokens, scene, emotions, hold, settings.batch_size
            )
            timings["faces"] = time.perf_counter() - t0
        smoothed = (
            np.stack([session.smoother.update(emotions, probs[i], float(times[i])) for i in range(n)])
            if n
            else np.zeros((0, K))
        )
        starts = np.array([w.span[0] for w in windows], dtype=np.float64)
        words = [" ".join(x for x in w.words if x) for w in windows]
        new_words = words_in_hops(tokens, times, settings.hop)
        if face is not None and len(face.times):
            face_present = face_presence(face.times, face.found, times, session.options.face.hold())
        else:
            face_present = np.zeros(n, dtype=bool)
        if audio_res is not None and len(audio_res.times):
            voice_present = voice_presence(
                audio_res.times, audio_res.valid, times, session.options.voice.presence_hold_s
            )
        else:
            voice_present = np.zeros(n, dtype=bool)
        hold = session.options.voice.presence_hold_s
        voice = [
            ("speech" if v else self._no_voice_reason(e - hold, e)) if want_acoustic and audio_res else ""
            for v, e in zip(voice_present, times)
        ]
        timings["total"] = time.perf_counter() - t_all
        for m, why in masked.items():
            if why not in ("no video stream", "no audio track"):
                notices.append(f"{m} masked: {why}")
        settings_d = {
            "hop": settings.hop,
            "face_fps": settings.face_fps,
            "max_faces": settings.max_faces,
            "tolerance": settings.tolerance(),
            "window_steps": engine.config.window_steps,
            "pseudo_step": engine.config.pseudo_step,
            "modalities": modality_letters(mods),
        }
        return FileResult(
            path=Path(info.path),
            info=info,
            duration=duration,
            emotions=emotions,
            user_added=sorted(e for e in engine.user_added if e in emotions),
            modalities_requested=mods,
            times=times,
            window_start=starts,
            probabilities=probs,
            modality_scores=scores,
            contributions=contrib,
            modalities_used=used,
            face_present=np.asarray(face_present, bool),
            voice_present=np.asarray(voice_present, bool),
            words=words,
            new_words=new_words,
            transcript=list(audio_res.words) if audio_res else [],
            face=face,
            smoothed=smoothed,
            masked=masked,
            voice=voice,
            notices=notices,
            timings=timings,
            settings=settings_d,
            windows=list(windows) if keep_windows else None,
            face_rows=face_rows,
        )

    def _no_voice_reason(self, start: float | None = None, end: float | None = None) -> str:
        """Why the last analysed audio has no voiced speech in ``[start, end)`` (default: anywhere)."""
        voice = self.session.voice
        why = voice.no_voice_reason(start, end)
        if why is not None:
            return why
        return "no voiced speech" if voice.gate is not None else "no voiced audio (silence)"

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)
        self.session.close()


def analyse_file(
    engine,
    path: str | Path,
    settings: OfflineSettings | None = None,
    progress: ProgressFn | None = None,
    info: MediaInfo | None = None,
    keep_windows: bool = False,
) -> FileResult:
    """One file with a driver of its own (its stages load for this call; many files: one :class:`FileDriver`)."""
    driver = FileDriver(engine, settings)
    try:
        return driver.analyse(path, progress, info, keep_windows=keep_windows)
    finally:
        driver.close()


__all__ = [
    "OfflineSettings",
    "FaceTrack",
    "AudioAnalysis",
    "FileResult",
    "FileDriver",
    "analyse_file",
    "summarise",
    "window_times",
    "latest_before",
    "words_in_hops",
    "MediaError",
]
