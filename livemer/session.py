"""One analysis session: the stages, the aligner, smoothing and presence, in one start-up order.

Every driver (live, file, batch) runs a :class:`Session`::

    session = Session(SessionOptions(), engine)   # or attach(engine) later
    session.preload()        # face, voice and speech stages load in background threads
    session.load()           # wait for the face stage (others may follow: their audio waits)
    session.start()          # a new stream at time 0: fresh aligner, smoother, stage state
    session.push_frame(t, image)
    session.push_audio(t_end, samples)       # voice analysis (acoustic + presence)
    session.push_speech(t_end, samples); session.decode_speech()   # speech recognition
    result = session.result(t)               # InferenceResult on the window ending at t
    session.flush()                          # the end of the stream
    session.close()

The session is the only owner of the components: the engine holds the model,
the word vectors and the emotion set; stages hold the face backend, the
acoustic extractor and the recogniser. Methods may be called from different
threads (one thread per stage, as the live driver does): shared state is
guarded by one lock. A stage that cannot load is left out with a one-line
notice and its modality is masked, never faked.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import Engine, InferenceResult, Smoother
from .errors import LivemerError, first_line
from .loading import schedule_imports
from .stages import (
    AcousticRows,
    FaceObservation,
    FaceOptions,
    FaceStage,
    SpeechOptions,
    SpeechStage,
    VoiceOptions,
    VoiceStage,
    face_presence,
    voice_presence,
    voiced_tone,
    warm_asr,
    word_inputs,
)

log = logging.getLogger(__name__)

STAGES = ("face", "voice", "speech")
STAGE_WHAT = {
    "face": ("face analysis", "visual"),
    "voice": ("voice analysis", "acoustic"),
    "speech": ("speech recognition", "text"),
}


@dataclass
class SessionOptions:
    """What a session runs: the stage options and which stages its inputs feed."""

    face: FaceOptions = field(default_factory=FaceOptions)
    voice: VoiceOptions = field(default_factory=VoiceOptions)
    speech: SpeechOptions = field(default_factory=SpeechOptions.live)
    stages: tuple[str, ...] = STAGES  # e.g. ("voice", "speech") without a camera
    transcript_chars: int = 2000  # committed transcript kept for display (the aligner holds the words)
    warmup: bool = False  # each stage runs representative input once as it loads (live: before the stream)


class Rate:
    """Events per second over a sliding window."""

    def __init__(self, span: float = 1.0) -> None:
        self.span = span
        self._t: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._t.append(now)
        while self._t and self._t[0] < now - self.span:
            self._t.popleft()

    def value(self) -> float:
        if len(self._t) < 2:
            return 0.0
        dt = self._t[-1] - self._t[0]
        return (len(self._t) - 1) / dt if dt > 0 else 0.0


@dataclass
class SessionCounts:
    """What the session analysed (for summaries)."""

    frames_analysed: int = 0
    faces_found: int = 0
    words: int = 0
    results: int = 0


class Session:
    """Owns the stages and the stream state; see the module docstring for the order of calls."""

    def __init__(
        self,
        options: SessionOptions | None = None,
        engine: Engine | None = None,
        components: dict[str, Any] | None = None,
    ) -> None:
        """``components`` may hand in ready backends: ``{"face": FaceBackend, "asr": ASREngine}``."""
        self.options = opt = options or SessionOptions()
        unknown = set(opt.stages) - set(STAGES)
        if unknown:
            raise LivemerError(f"unknown session stage(s): {', '.join(sorted(unknown))}")
        self.engine = engine
        self.face = FaceStage(opt.face, space=getattr(engine, "visual_space", "facet-35"))
        self.voice = VoiceStage(opt.voice)
        self.speech = SpeechStage(opt.speech)
        self._given = dict(components or {})
        #: the face stage's warm-up picture (a driver sets it: the camera's first frame); None: a grey frame
        self.warm_frame: Callable[[], np.ndarray | None] | None = None
        self.warm_face: FaceObservation | None = None  # the warm-up's last face (the live view warms on it)
        self.notices: list[str] = []
        self.item_errors: dict[str, int] = {}
        self.counts = SessionCounts()
        self.face_rate = Rate()
        self._errors: dict[str, BaseException] = {}
        self._loaders: dict[str, threading.Thread] = {}
        self._lock = threading.RLock()
        self.aligner = None
        self.smoother: Smoother | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.latest_face: FaceObservation | None = None
        self.latest_result: InferenceResult | None = None
        self._last_acoustic_t = -math.inf
        self._last_voiced_t = -math.inf
        self._voice_reason: str | None = None  # the speech gate's reason for the last presence_hold_s without voice
        self._visual_fresh: float | None = None  # time.monotonic() of the freshest input's capture
        self._audio_fresh: float | None = None
        self._committed = ""

    # ------------------------------------------------------------------ loading
    def attach(self, engine: Engine) -> None:
        self.engine = engine

    def stage(self, name: str):
        return {"face": self.face, "voice": self.voice, "speech": self.speech}[name]

    def _load_one(self, name: str) -> None:
        try:
            st = self.stage(name)
            if name == "face":
                st.load(self._given.get("face"))
                if getattr(st.adapter, "notice", None):  # e.g. py-feat's blendshape columns come from its AUs
                    self.notice(st.adapter.notice)
            elif name == "speech":
                st.load(self._given.get("asr"))
            else:
                st.load()
            if self.options.warmup:
                self._warm(name)
        except Exception as exc:  # noqa: BLE001 - reported as a notice, the modality is masked
            self._errors[name] = exc
            what, mod = STAGE_WHAT[name]
            self.notice(f"{what} unavailable ({first_line(exc)}); the {mod} modality is absent")

    def _warm(self, name: str) -> None:
        """Run representative input through stage ``name`` (first-use costs paid and working memory allocated
        before the stream starts): the voice stage a voiced tone, the face stage the camera's first picture
        (:meth:`FaceStage.warmup`), the recogniser a decode at its longest buffer (only its lazy sessions when
        it finished loading after the stream started); :meth:`start` then resets the stage, so the stream
        gives what a cold session gives."""
        st = self.stage(name)
        if name == "voice":
            st.warmup()
            st.push(0.0, voiced_tone(1.5, st.options.sr))
            st.flush()
        elif name == "face":  # on the camera's first picture, then black frames: the tracker lets go
            frame = self.warm_frame() if self.warm_frame is not None else None
            self.warm_face = st.warmup(frame)
        elif self.aligner is not None:  # loaded after the stream started (the CLI waits for the face stage
            warm_asr(st.recogniser)  # only): the lazy sessions, not a long decode competing with the stream
        else:
            st.warmup()

    def preload(self) -> None:
        """Start loading the stages in background threads (none of them needs the model)."""
        if self._loaders:
            return
        names = [n for n in STAGES if n in self.options.stages]
        # imports in order of need: the face (frames are dropped until it runs), the model, then voice
        # analysis and speech recognition, whose audio waits in their queues meanwhile
        imports = {"face": "face", "voice": "acoustic", "speech": "asr"}
        schedule_imports((["face"] if "face" in names else []) + ["model"] + [imports[n] for n in names if n != "face"])
        self._loaders = {
            n: threading.Thread(target=self._load_one, args=(n,), name=f"load-{n}", daemon=True) for n in names
        }
        for t in self._loaders.values():
            t.start()

    def load(self, wait: tuple[str, ...] = ("face",), stop: threading.Event | None = None) -> None:
        """Preload if needed and wait for the stages in ``wait`` (all: ``STAGES``)."""
        self.preload()
        for name in wait:
            self.wait_stage(name, stop)

    def wait_stage(self, name: str, stop: threading.Event | None = None) -> bool:
        """Wait until stage ``name`` has loaded; False when it failed, is not run, or ``stop`` was set."""
        loader = self._loaders.get(name)
        while loader is not None and loader.is_alive():
            if stop is not None and stop.is_set():
                return False
            loader.join(0.1)
        return name in self._loaders and name not in self._errors and self.stage(name).loaded

    def fail_stage(self, name: str, exc: BaseException) -> None:
        """Leave stage ``name`` out from now on (its modality is then absent), with one notice."""
        if name not in self._errors:
            self._errors[name] = exc
            what, mod = STAGE_WHAT[name]
            self.notice(f"{what} unavailable ({first_line(exc)}); the {mod} modality is absent")

    def notice(self, text: str) -> None:
        with self._lock:
            self.notices.append(text)

    def item_error(self, stage: str, exc: BaseException) -> None:
        """Count a failure on one frame/block; the first of each stage becomes a notice."""
        with self._lock:
            n = self.item_errors.get(stage, 0) + 1
            self.item_errors[stage] = n
        if n == 1:
            self.notice(f"{stage}: skipped input after {type(exc).__name__}: {first_line(exc)}")
            log.warning(self.notices[-1])

    # ------------------------------------------------------------------ the stream
    def _engine(self) -> Engine:
        if self.engine is None:
            raise LivemerError("session: no engine attached")
        return self.engine

    def start(self, t0: float = 0.0) -> None:
        """A new stream starting at time ``t0``: fresh aligner, smoothing and stage state."""
        eng = self._engine()
        from feature_adapters.align import StreamingAligner

        d_t, d_a, d_v = eng.frame_dims
        with self._lock:
            self.aligner = StreamingAligner(
                d_t,
                d_a,
                d_v,
                n=eng.config.window_steps,
                pseudo_step=eng.config.pseudo_step,
                tolerance=self.options.face.tolerance(),
                t0=t0,
                acoustic_dynamics=eng.acoustic_dynamics,
            )
            self.smoother = Smoother(eng.config.smoothing_tau)
            self.face.dim = d_v
            self.face.use_space(getattr(eng, "visual_space", "facet-35"))
            self._reset_state()
        for st in (self.face, self.voice, self.speech):
            if st.loaded:
                st.reset()

    def push_frame(
        self, t: float, image: np.ndarray, captured: float | None = None, force: bool = False
    ) -> FaceObservation | None:
        """A camera frame at stream time ``t``; analysed when due (None otherwise). Face thread."""
        obs = self.face.push(t, image, force=force)
        if obs is None:
            return None
        self.add_face(obs, captured)
        return obs

    def add_face(self, obs: FaceObservation, captured: float | None = None) -> None:
        self.aligner.add_visual(np.array([obs.t]), obs.row[None, :], np.array([obs.valid]))
        self.face_rate.tick()
        with self._lock:
            self.latest_face = obs
            self._visual_fresh = captured
            self.counts.frames_analysed += 1
            self.counts.faces_found += int(obs.found)

    def push_audio(self, t_end: float, samples: np.ndarray, captured: float | None = None) -> AcousticRows:
        """16 kHz audio ending at stream time ``t_end`` through the voice stage. Voice thread."""
        rows = self.voice.push(t_end - samples.size / self.voice.options.sr, samples)
        self.add_acoustic(rows)
        with self._lock:
            self._audio_fresh = captured
        return rows

    def add_acoustic(self, rows: AcousticRows) -> None:
        if len(rows) == 0:
            return
        self.aligner.add_acoustic(rows.times, rows.features, rows.voiced)
        last = float(rows.times[-1])
        why = self.voice.no_voice_reason(last - self.options.voice.presence_hold_s, last)
        with self._lock:
            self._last_acoustic_t = last
            if rows.voiced.any():
                self._last_voiced_t = float(rows.times[np.flatnonzero(rows.voiced)[-1]])
            self._voice_reason = why

    def push_speech(self, t_end: float, samples: np.ndarray) -> None:
        """Queue audio for the recogniser (no decode: see :meth:`decode_speech`). Speech thread."""
        self.speech.push(t_end, samples)

    def utterance_ended(self) -> bool:
        with self._lock:
            last, voiced = self._last_acoustic_t, self._last_voiced_t
        return self.speech.utterance_ended(last, voiced)

    def decode_speech(self, final: bool = False) -> list | None:
        """Decode when due (or flush at the end); adds the committed words. None when nothing was due."""
        words = self.speech.flush() if final else self.speech.decode(self.utterance_ended)
        if words is not None:
            self.add_words(words)
        return words

    def add_words(self, words) -> None:
        """Timed words (``TimedWord``) -> text steps in the aligner, and the transcript."""
        if words:
            self.aligner.add_words(word_inputs(self._engine().embed(words)))
        with self._lock:
            self.counts.words += len(words)
            text = " ".join([self._committed, *(w.word.strip() for w in words)]).strip()
            self._committed = text[-self.options.transcript_chars :]

    def flush(self) -> None:
        """The end of the stream: the voice stage's last frames and the recogniser's pending words."""
        if self.voice.loaded:
            self.add_acoustic(self.voice.flush())
        if self.speech.loaded and self.speech.transcriber is not None:
            self.decode_speech(final=True)

    # ------------------------------------------------------------------ reading
    def transcript(self) -> str:
        with self._lock:
            return self._committed

    def pending_text(self) -> str:
        return self.speech.pending_text

    def voice_present(self) -> bool:
        """A voiced frame within ``voice.presence_hold_s`` before the end of the audio analysed so far."""
        with self._lock:
            last, voiced = self._last_acoustic_t, self._last_voiced_t
        if not math.isfinite(last) or not math.isfinite(voiced):
            return False
        return bool(
            voice_presence(
                np.array([voiced]), np.array([True]), np.array([last + 1e-6]), self.options.voice.presence_hold_s
            )[0]
        )

    def voice_reason(self) -> str | None:
        """The speech gate's reason for no speech lately (None: speech, or no gate)."""
        with self._lock:
            return self._voice_reason

    def face_present(self) -> bool | None:
        """Whether the freshest analysed frame had a face (None before any frame)."""
        with self._lock:
            obs = self.latest_face
        if obs is None:
            return None
        return bool(
            face_presence(np.array([obs.t]), np.array([obs.found]), np.array([obs.t + 1e-6]), self.options.face.hold())[
                0
            ]
        )

    def _fresh_capture(self) -> float | None:
        with self._lock:
            return self._visual_fresh if self._visual_fresh is not None else self._audio_fresh

    def window(self, t: float):
        """The model's window ending at stream time ``t`` from what was pushed (the live path)."""
        return self.aligner.window(t)

    def windows_at(self, times: np.ndarray, tokens, acoustic, visual) -> list:
        """The windows :meth:`window` would give at each of ``times`` had the same data been pushed (the
        batch path of file mode): ``tokens`` (``TextToken``), ``acoustic`` / ``visual`` as
        ``(times, features, valid)`` or None."""
        from feature_adapters.align import windows_at

        eng = self._engine()
        d_t, d_a, d_v = eng.frame_dims
        return windows_at(
            word_inputs(tokens),
            acoustic,
            visual,
            times,
            t_start=0.0,
            n=eng.config.window_steps,
            pseudo_step=eng.config.pseudo_step,
            tolerance=self.options.face.tolerance(),
            text_dim=d_t,
            acoustic_dim=d_a,
            visual_dim=d_v,
            acoustic_dynamics=eng.acoustic_dynamics,
        )

    def result(self, t: float, voice_on: bool = True) -> InferenceResult | None:
        """The model's result on the window ending at stream time ``t`` (None before any data)."""
        if not math.isfinite(self.aligner.latest):
            return None
        captured = self._fresh_capture()
        res = self._engine().infer(
            self.window(t),
            t,
            transcript=self.transcript(),
            face_present=bool(self.face_present()),
            voice_present=voice_on and self.voice_present(),
            fps=self.face_rate.value(),
            captured_at=captured,
            smoother=self.smoother,
            voice_reason=self.voice_reason() if voice_on else None,
        )
        with self._lock:
            self.latest_result = res
            self.counts.results += 1
        return res

    def close(self) -> None:
        """Release the stages (the face backend is closed explicitly, never by the garbage collector)."""
        for t in self._loaders.values():
            t.join(0.1)
        for st in (self.face, self.voice, self.speech):
            st.close()


__all__ = ["Session", "SessionOptions", "SessionCounts", "Rate", "STAGES"]
