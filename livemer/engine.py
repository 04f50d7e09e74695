"""The shared inference engine of ``livemer run`` and ``livemer file``.

:class:`Engine` loads everything once: the checkpoint (its feature spaces are
checked against the running adapters), the word-vector provider, the
:class:`~model.inference.Predictor` and the resolved emotion set. The face
backend, the recogniser and the acoustic extractor belong to the stages of a
:class:`livemer.session.Session`, never to the engine.

Modalities are masked from the data, never faked (see :mod:`livemer.stages`):
a window with none of a modality's steps observed drops that modality from the
fusion (see ``Window.modality_mask``).

:func:`smooth` is the exponential smoothing of probabilities over time
(time constant ``tau`` seconds); :class:`Smoother` applies it per emotion name,
so adding an emotion mid-stream does not disturb the others.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LivemerError

MODALITIES = ("text", "acoustic", "visual")
LETTER = {"text": "t", "acoustic": "a", "visual": "v"}
#: The subsets the ``m`` key cycles through, in order.
MODALITY_CYCLE = ("tav", "ta", "tv", "av", "t", "a", "v")


def modality_letters(mods: Sequence[str]) -> str:
    """('text', 'visual') -> 'tv'."""
    return "".join(LETTER[m] for m in MODALITIES if m in mods)


def next_modalities(current: str) -> str:
    """The subset after ``current`` in :data:`MODALITY_CYCLE` (wraps; unknown -> the first)."""
    cur = "".join(c for c in "tav" if c in current)
    try:
        i = MODALITY_CYCLE.index(cur)
    except ValueError:
        return MODALITY_CYCLE[0]
    return MODALITY_CYCLE[(i + 1) % len(MODALITY_CYCLE)]


# --------------------------------------------------------------------------- smoothing


def smooth(prev: np.ndarray | None, new: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """Exponential smoothing of ``new`` onto ``prev`` after ``dt`` seconds, time constant ``tau``.

    ``out = prev + (1 - exp(-dt / tau)) * (new - prev)``. ``tau <= 0`` or no
    ``prev`` returns ``new``. NaN entries of ``new`` (no modality observed) keep
    the previous value; NaN entries of ``prev`` take the new value. A negative
    ``dt`` counts as zero (the previous value is kept).
    """
    new = np.asarray(new, dtype=np.float64)
    if prev is None or tau is None or tau <= 0:
        return new.copy()
    prev = np.asarray(prev, dtype=np.float64)
    if prev.shape != new.shape:
        raise ValueError(f"smooth: previous values have shape {prev.shape}, new ones {new.shape}")
    alpha = 1.0 - math.exp(-max(float(dt), 0.0) / float(tau))
    out = prev + alpha * (new - prev)
    out = np.where(np.isnan(new), prev, out)
    out = np.where(np.isnan(prev), new, out)
    return out


class Smoother:
    """Per-emotion-name exponential smoothing state (see :func:`smooth`)."""

    def __init__(self, tau: float) -> None:
        self.tau = float(tau)
        self._values: dict[str, float] = {}
        self._t: float | None = None

    def reset(self) -> None:
        self._values.clear()
        self._t = None

    def update(self, names: Sequence[str], probs: np.ndarray, t: float) -> np.ndarray:
        """Smooth ``probs`` (aligned with ``names``) observed at time ``t``; returns the smoothed array."""
        prev = np.array([self._values.get(n, np.nan) for n in names], dtype=np.float64)
        dt = 0.0 if self._t is None else float(t) - self._t
        if self._t is None or not len(self._values):
            out = np.asarray(probs, dtype=np.float64).copy()
        else:
            out = smooth(prev, probs, dt, self.tau)
        for n, v in zip(names, out):
            if not np.isnan(v):
                self._values[n] = float(v)
        self._t = float(t) if self._t is None else max(self._t, float(t))
        return out


# --------------------------------------------------------------------------- config and result


@dataclass
class EngineConfig:
    """Settings shared by live and file mode."""

    checkpoint: str | Path | None = None  # None: the embedded default / $LIVEMER_CHECKPOINT
    emotions: str | list[str] | None = None  # "happy,sad" or a list; None: the checkpoint's set + user-added
    modalities: str = "tav"
    face_backend: str = "auto"  # auto | mediapipe | pyfeat
    asr_model: str | None = None  # None: the default recogniser
    window_steps: int = 20
    pseudo_step: float = 0.5  # seconds per text-less step during silence
    smoothing_tau: float = 1.0  # seconds; 0 turns smoothing off
    glove: str | None = None  # GloVe text file when the checkpoint is not GloVe 6B 50-d
    threads: int | None = 1  # torch threads for the model
    speech_gate: bool = True  # only speech counts as a voice (the voice stage's gate); False: any voiced sound
    calibration: bool = False  # use the user's stored neutral baseline (livemer.baseline); live mode turns it on


def _f(x: Any) -> float | None:
    """A JSON-safe float (NaN/inf -> None)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass
class InferenceResult:
    """One model result on the latest window."""

    t: float  # stream time (s) the window ends at
    window_start: float  # span of the real steps in the window (NaN when empty)
    window_end: float
    emotions: list[str]
    probabilities: np.ndarray  # (K,) raw model output; NaN when no modality was used
    smoothed: np.ndarray  # (K,) after exponential smoothing
    modality_scores: dict[str, np.ndarray]  # per used modality, (K,)
    contributions: dict[str, np.ndarray]  # per used modality, (K,); they sum to the logits
    modalities_used: tuple[str, ...]
    modalities_requested: tuple[str, ...]
    user_added: list[str] = field(default_factory=list)
    transcript: str = ""
    face_present: bool = False
    voice_present: bool = False
    voice_reason: str | None = None  # why no voice (e.g. "no speech (silence)"); None: speech or unknown
    fps: float = 0.0
    latency: float = float("nan")  # seconds from capture of the freshest input to this result
    timestamp: float = field(default_factory=time.time)  # wall clock (unix seconds)
    n_steps: int = 0  # real (non-padding) steps in the window

    def top(self) -> tuple[str, float] | None:
        """The emotion with the highest smoothed probability, or None."""
        p = np.asarray(self.smoothed, dtype=np.float64)
        if not len(self.emotions) or np.all(np.isnan(p)):
            return None
        i = int(np.nanargmax(p))
        return self.emotions[i], float(p[i])

    def ranked(self) -> list[tuple[str, float]]:
        """(emotion, smoothed probability) sorted high to low; NaN last."""
        p = np.asarray(self.smoothed, dtype=np.float64)
        order = sorted(range(len(self.emotions)), key=lambda i: (np.isnan(p[i]), -np.nan_to_num(p[i], nan=0.0)))
        return [(self.emotions[i], float(p[i])) for i in order]

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN becomes null); one JSONL line per result."""

        def per_emotion(a: np.ndarray) -> dict[str, float | None]:
            return {e: _f(v) for e, v in zip(self.emotions, np.asarray(a).reshape(-1))}

        top = self.top()
        return {
            "timestamp": _f(self.timestamp),
            "t": _f(self.t),
            "window": [_f(self.window_start), _f(self.window_end)],
            "n_steps": int(self.n_steps),
            "emotions": per_emotion(self.smoothed),
            "raw": per_emotion(self.probabilities),
            "top": top[0] if top else None,
            "user_added": list(self.user_added),
            "modality_scores": {m: per_emotion(v) for m, v in self.modality_scores.items()},
            "contributions": {m: per_emotion(v) for m, v in self.contributions.items()},
            "modalities_used": list(self.modalities_used),
            "modalities": modality_letters(self.modalities_requested),
            "transcript": self.transcript,
            "face_present": bool(self.face_present),
            "voice_present": bool(self.voice_present),
            "voice": "speech" if self.voice_present else (self.voice_reason or "no speech"),
            "fps": _f(self.fps),
            "latency": _f(self.latency),
        }


# --------------------------------------------------------------------------- engine


class Engine:
    """Loads the model, vectors and emotion set once; builds the extractors lazily.

    Thread-safe: :meth:`infer`, :meth:`add_emotion` and :meth:`set_modalities`
    may be called from different threads.
    """

    def __init__(self, config: EngineConfig | None = None, registry=None) -> None:
        from model.checkpoint import load_checkpoint
        from model.inference import Predictor, parse_modalities

        self.config = cfg = config or EngineConfig()
        t0 = time.perf_counter()
        try:
            self._modalities = parse_modalities(cfg.modalities)
        except ValueError as exc:
            raise LivemerError(str(exc)) from None
        if not self._modalities:
            raise LivemerError("--modalities is empty; use letters t, a, v such as 'tav'")
        if cfg.window_steps < 1:
            raise LivemerError(f"window length must be at least 1 step, got {cfg.window_steps}")
        self.checkpoint = load_checkpoint(cfg.checkpoint)
        from .cmd_emotions import provider_for

        self.provider = provider_for(self.checkpoint, cfg.glove)
        _ = self.provider.keyed_vectors  # load the word vectors now, not at the first recognised word
        self.checkpoint.check_spaces(self.running_spaces())
        self.predictor = Predictor(self.checkpoint, self.provider, threads=cfg.threads)
        if registry is None:
            from .registry import Registry

            registry = Registry()
        self.registry = registry
        from .emotions_set import resolve_emotions

        es = resolve_emotions(self.checkpoint, cfg.emotions, registry, self.provider)
        for name, vec in es.vectors.items():
            self.predictor.add_emotion(name, vec)
        self.notes: list[str] = list(es.notes)
        for name, rows in es.adapted.items():
            try:
                self.predictor.set_adaptation(name, rows)
            except ValueError as exc:
                self.notes.append(f"{exc}; scored zero-shot")
        #: called as tap(t, window) after every :meth:`infer` (live teaching and calibration)
        self.taps: list = []
        self.calibrated = False
        self._emotions = list(es.names)
        self._user_added = set(es.user_added)
        self._lock = threading.RLock()
        self.smoother = Smoother(cfg.smoothing_tau)  # for direct infer() calls; a session brings its own
        if cfg.calibration:
            self.use_stored_baseline()
        self.load_seconds = time.perf_counter() - t0

    # -- spaces and dimensions -------------------------------------------------
    def running_spaces(self) -> dict:
        """The feature spaces the running adapters produce (those that are installed)."""
        spaces = {"text": self.provider.space()}
        try:
            from feature_adapters.covarep import ACOUSTIC_SPACES, COVAREP74

            spaces["acoustic"] = ACOUSTIC_SPACES.get(self.acoustic_space, COVAREP74)  # unknown: the mismatch says so
        except ImportError:
            pass
        try:
            from feature_adapters.blendshapes import visual_spaces

            known = visual_spaces()
            spaces["visual"] = known.get(self.visual_space, known["facet-35"])  # unknown: the mismatch says so
        except ImportError:
            pass
        return spaces

    @property
    def visual_space(self) -> str:
        """The visual space the checkpoint names (the face stage produces its rows): Facet-35 when unnamed."""
        sp = self.checkpoint.feature_spaces.get("visual")
        return sp.name if sp is not None else "facet-35"

    @property
    def acoustic_space(self) -> str:
        """The acoustic step space the checkpoint names: COVAREP-74 (step means) when unnamed."""
        sp = self.checkpoint.feature_spaces.get("acoustic")
        return sp.name if sp is not None else "covarep-74"

    @property
    def acoustic_dynamics(self) -> tuple[int, ...]:
        """Acoustic frame columns whose within-step dynamics the checkpoint's step space appends (the aligner
        computes them; () for COVAREP-74)."""
        try:
            from feature_adapters.covarep import step_dynamics
        except ImportError:
            return ()
        return step_dynamics(self.acoustic_space)

    @property
    def dims(self) -> tuple[int, int, int]:
        """(d_t, d_a, d_v) the model takes (its steps' widths)."""
        d = self.checkpoint.config.input_dims
        return int(d["text"]), int(d["acoustic"]), int(d["visual"])

    @property
    def frame_dims(self) -> tuple[int, int, int]:
        """(d_t, d_a, d_v) of the frames the stages produce (d_a without the dynamics the aligner appends)."""
        d_t, d_a, d_v = self.dims
        return d_t, d_a - 2 * len(self.acoustic_dynamics), d_v

    # -- emotions ----------------------------------------------------------------
    @property
    def emotions(self) -> list[str]:
        with self._lock:
            return list(self._emotions)

    @property
    def user_added(self) -> set[str]:
        with self._lock:
            return set(self._user_added)

    def add_emotion(self, word: str, persist: bool = True) -> str:
        """Score ``word`` from now on (zero-shot); with ``persist`` it is also saved in the user registry.

        Returns the name added. Raises :class:`LivemerError` (one line, with
        spelling suggestions) when the word has no vector.
        """
        from feature_adapters.embeddings import UnknownWordError

        name = word.strip().lower()
        if not name or " " in name:
            raise LivemerError(f"'{word}': give one word, such as bored")
        with self._lock:
            if name in self._emotions:
                return name
            vec = self.checkpoint.vector_of(name)
            if vec is None:
                entry = self.registry.get(name)
                if entry is not None and entry.space == self.checkpoint.embedding_space:
                    vec = entry.as_array()
                else:
                    try:
                        vec = self.provider.vector(name)
                    except UnknownWordError as exc:
                        raise LivemerError(str(exc)) from None
                    if persist:
                        try:
                            self.registry.add(name, name, self.checkpoint.embedding_space, vec)
                        except OSError:
                            pass  # scoring it this run still works
                self.predictor.add_emotion(name, vec)
                self._user_added.add(name)
            self._emotions.append(name)
            return name

    # -- per-user baseline (calibration) -----------------------------------------
    def use_stored_baseline(self) -> bool:
        """Apply the user's stored neutral baseline, if there is one that fits; notes say why not."""
        from model.adapt import replay_of

        from .baseline import load_baseline, shift_for

        base, note = load_baseline()
        if note:
            self.notes.append(note)
        if base is None:
            return False
        shift, notes = shift_for(self.checkpoint, base, replay_of(self.checkpoint))
        self.notes += notes
        return self.apply_shift(shift)

    def apply_shift(self, shift: dict | None) -> bool:
        with self._lock:
            self.predictor.set_calibration(shift or None)
            self.calibrated = bool(shift)
            self.smoother.reset()
        return self.calibrated

    def save_baseline(self, means: dict, seconds: float, windows: int, neutral=None) -> bool:
        """Store ``means`` as the user's baseline (and ``neutral``, the windows they came from) and use it."""
        from .baseline import save_baseline, save_neutral_windows

        spaces = {m: self.checkpoint.feature_spaces[m].name for m in means if m in self.checkpoint.feature_spaces}
        save_baseline(means, spaces, seconds, windows)
        save_neutral_windows(neutral)
        return self.use_stored_baseline()

    def adopt(self, name: str, vector: np.ndarray, rows: dict) -> str:
        """Score ``name`` from now on with its few-shot rows (a live teaching has just stored it)."""
        with self._lock:
            self.predictor.add_emotion(name, vector)
            self.predictor.set_adaptation(name, rows)
            self._user_added.add(name)
            if name not in self._emotions:
                self._emotions.append(name)
        return name

    # -- modalities --------------------------------------------------------------
    @property
    def modalities(self) -> tuple[str, ...]:
        with self._lock:
            return self._modalities

    def set_modalities(self, spec: str | Sequence[str]) -> tuple[str, ...]:
        from model.inference import parse_modalities

        try:
            mods = parse_modalities(spec)
        except ValueError as exc:
            raise LivemerError(str(exc)) from None
        if not mods:
            raise LivemerError("at least one modality is needed")
        with self._lock:
            self._modalities = mods
        return mods

    def cycle_modalities(self) -> tuple[str, ...]:
        """Switch to the next subset of :data:`MODALITY_CYCLE`."""
        return self.set_modalities(next_modalities(modality_letters(self.modalities)))

    def new_aligner(self, t0: float | None = None):
        """A fresh :class:`feature_adapters.align.StreamingAligner` sized for this model."""
        from feature_adapters.align import StreamingAligner

        d_t, d_a, d_v = self.frame_dims
        return StreamingAligner(
            d_t,
            d_a,
            d_v,
            n=self.config.window_steps,
            pseudo_step=self.config.pseudo_step,
            t0=t0,
            acoustic_dynamics=self.acoustic_dynamics,
        )

    def embed(self, words) -> list:
        """Timed words (``TimedWord``) -> text steps with vectors (``TextToken``), OOV flagged."""
        from feature_adapters.text import embed_words

        return embed_words(list(words), self.provider)

    # -- inference ---------------------------------------------------------------
    def predict(self, window, emotions: Sequence[str] | None = None, modalities: Sequence[str] | None = None):
        """The raw :class:`model.inference.EmotionPrediction` for one window."""
        with self._lock:
            emos = list(emotions) if emotions is not None else list(self._emotions)
            mods = tuple(modalities) if modalities is not None else self._modalities
            return self.predictor.predict(window, emos, mods)

    def predict_windows(self, windows, emotions=None, modalities=None, batch_size: int = 256) -> list:
        with self._lock:
            emos = list(emotions) if emotions is not None else list(self._emotions)
            mods = tuple(modalities) if modalities is not None else self._modalities
            return self.predictor.predict_windows(list(windows), emos, mods, batch_size=batch_size)

    def infer(
        self,
        window,
        t: float,
        *,
        transcript: str = "",
        face_present: bool = False,
        voice_present: bool = False,
        fps: float = 0.0,
        captured_at: float | None = None,
        smooth_result: bool = True,
        smoother: Smoother | None = None,
        voice_reason: str | None = None,
    ) -> InferenceResult:
        """Predict on ``window`` (ending at stream time ``t``) and smooth over time (with ``smoother``,
        a stream's own state, else the engine's).

        ``captured_at`` is the ``time.monotonic()`` at which the freshest input
        in the window was captured; the result's ``latency`` is measured from it.
        """
        with self._lock:
            emos = list(self._emotions)
            mods = self._modalities
            users = [e for e in emos if e in self._user_added]
            pred = self.predictor.predict(window, emos, mods)
            probs = np.asarray(pred.probabilities, dtype=np.float64)
            sm = (smoother or self.smoother).update(emos, probs, t) if smooth_result else probs.copy()
        for tap in list(self.taps):
            tap(float(t), window)
        start, end = window.span
        return InferenceResult(
            t=float(t),
            window_start=start,
            window_end=end,
            emotions=emos,
            probabilities=probs,
            smoothed=sm,
            modality_scores={m: np.asarray(v) for m, v in pred.modality_scores.items()},
            contributions={m: np.asarray(v) for m, v in pred.contributions.items()},
            modalities_used=tuple(pred.modalities_used),
            modalities_requested=tuple(mods),
            user_added=users,
            transcript=transcript,
            face_present=bool(face_present),
            voice_present=bool(voice_present),
            voice_reason=None if voice_present else voice_reason,
            fps=float(fps),
            latency=(time.monotonic() - captured_at) if captured_at is not None else float("nan"),
            n_steps=int(np.count_nonzero(window.step_mask)),
        )

    def describe(self) -> dict[str, Any]:
        """Settings and provenance for summaries (JSON-serialisable)."""
        return {
            "checkpoint": str(self.checkpoint.path) if self.checkpoint.path else None,
            "embedding_space": self.checkpoint.embedding_space,
            "emotions": self.emotions,
            "user_added": sorted(self.user_added),
            "modalities": modality_letters(self.modalities),
            "face_backend": self.config.face_backend,
            "asr_model": self.config.asr_model,
            "window_steps": self.config.window_steps,
            "pseudo_step": self.config.pseudo_step,
            "smoothing_tau": self.config.smoothing_tau,
            "speech_gate": "silero" if self.config.speech_gate else "off",
        }
