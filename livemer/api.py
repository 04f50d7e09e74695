"""The Python API, for notebooks and user code.

Whole files::

    import livemer
    a = livemer.analyze("talk.mp4")                 # video, audio or a still image
    a.summary["happy"]["mean"], a.transcript
    df = a.to_pandas()                              # one row per window (and face, with max_faces > 1)

A stream that user code feeds (the same :class:`~livemer.session.Session` the
live driver runs)::

    with livemer.Recognizer(modalities="av") as rec:
        for t, frame in camera:                     # BGR uint8 frames, stream time in seconds
            rec.push_frame(t, frame)
        rec.push_audio(t_end, samples)              # mono float32 chunks (16 kHz, or say sr=)
        r = rec.result()                            # livemer.engine.InferenceResult or None

Models load once per process and stay warm: a second :func:`analyze` with the
same model options costs only the analysis. Importing :mod:`livemer` stays
cheap; this module loads nothing until it is called.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LivemerError

SR = 16000


def _emotions_spec(emotions: str | Sequence[str] | None) -> str | None:
    if emotions is None or isinstance(emotions, str):
        return emotions
    return ",".join(str(e) for e in emotions)


@dataclass
class Analysis:
    """What :func:`analyze` found in one input.

    ``kind``: ``"video"``, ``"audio"`` or ``"image"``. ``summary``: per emotion,
    ``mean`` and ``max`` probability (and ``seconds_above_0_5`` for media).
    ``transcript``: the words heard (empty for a photo). ``masked``: modality ->
    why it is absent. ``result``: the full :class:`livemer.offline.FileResult`
    or :class:`livemer.images.ImageResult`.
    """

    path: Path
    kind: str
    duration: float
    emotions: list[str]
    summary: dict[str, dict[str, float | None]]
    transcript: str
    modalities: str  # present, e.g. "tav"
    masked: dict[str, str]
    notices: list[str] = field(default_factory=list)
    result: Any = None

    @property
    def top_emotion(self) -> tuple[str, float] | None:
        """(emotion, mean probability) of the highest mean (the largest face's top for a photo)."""
        return self.result.top_emotion()

    def to_pandas(self):
        """A pandas DataFrame: one row per window (``start``, ``end``, words, presence, ``p_<emotion>``,
        per-modality scores), one row per window and face when several faces were tracked (``face_id``
        first; text and voice columns are the scene's and repeat), or one row per face for a photo."""
        if self.kind == "image":
            from .images import result_table as image_table

            return image_table(self.result)
        from .outputs import result_table

        return result_table(self.result)

    def __repr__(self) -> str:
        top = self.top_emotion
        return (
            f"Analysis({self.path.name!r}, {self.kind}, {self.duration:.1f} s, modalities {self.modalities or 'none'}"
            + (f", top {top[0]} {top[1]:.2f})" if top else ")")
        )


def analyze(
    path: str | Path,
    emotions: str | Sequence[str] | None = None,
    modalities: str = "tav",
    *,
    checkpoint: str | Path | None = None,
    face_backend: str = "auto",
    asr_model: str | None = None,
    glove: str | None = None,
    hop: float = 0.2,
    face_fps: float = 5.0,
    smoothing: float = 1.0,
    max_faces: int | None = None,
) -> Analysis:
    """Analyse one video, audio file or still image and return an :class:`Analysis` (nothing is written).

    ``emotions``: a list or ``"happy,sad"`` (default: the model's set plus your
    added ones; any word with a vector is scored zero-shot). ``modalities``:
    letters ``t``, ``a``, ``v``. ``max_faces``: faces per photo (default 5), or per video frame (default 1;
    above 1 each face is tracked with its own id, scores and rows in ``to_pandas()``, ``face_id``).
    The other options are those of ``livemer file``.
    Raises :class:`livemer.errors.LivemerError` (one line) for an unusable input.
    """
    from . import images
    from .batch import BatchOptions, warm_driver, warm_engine

    opts = BatchOptions(
        out_dir=".",
        checkpoint=str(checkpoint) if checkpoint else None,
        emotions=_emotions_spec(emotions),
        modalities=modalities,
        face_backend=face_backend,
        asr_model=asr_model,
        glove=glove,
        hop=float(hop),
        face_fps=float(face_fps),
        smoothing=float(smoothing),
        max_faces=max_faces,
    )
    opts.check()
    engine = warm_engine(opts)
    if images.is_image(path):
        r = images.analyse_image(engine, path, opts.faces_per_image())
        present = "" if "visual" in r.masked else "v"
        return Analysis(
            Path(path), "image", 0.0, list(r.emotions), r.summary(), "", present, r.masked, list(r.notices), r
        )
    res = warm_driver(opts).analyse(path)
    kind = "video" if res.info.has_video else "audio"
    return Analysis(
        Path(path),
        kind,
        float(res.duration),
        list(res.emotions),
        res.summary(),
        res.transcript_text,
        "".join(m[0] for m in res.modalities_present),
        dict(res.masked),
        list(res.notices),
        res,
    )


class Recognizer:
    """Push camera frames and audio chunks, get results back: the live driver's :class:`Session`.

    Frames are BGR ``uint8`` arrays (OpenCV's layout) with their stream time in
    seconds; audio is mono float samples at ``sr`` Hz (resampled to 16 kHz),
    given with the stream time its last sample ends at. :meth:`result` runs the
    model on the window ending at a time (default: the latest data) and returns
    a :class:`livemer.engine.InferenceResult` (``probabilities``, ``smoothed``,
    ``modality_scores``, ``top()``, ``to_json_dict()``), or None before any data.
    Speech recognition decodes inside :meth:`push_audio` when enough new audio
    has arrived (as the live driver's speech thread does), so that call can
    take a few hundred milliseconds now and then.
    """

    def __init__(
        self,
        emotions: str | Sequence[str] | None = None,
        modalities: str = "tav",
        *,
        checkpoint: str | Path | None = None,
        face_backend: str = "auto",
        asr_model: str | None = None,
        glove: str | None = None,
        smoothing: float = 1.0,
        face_rate: float = 15.0,
    ) -> None:
        from .engine import Engine, EngineConfig
        from .session import Session, SessionOptions
        from .stages import FaceOptions, SpeechOptions

        self.engine = Engine(
            EngineConfig(
                checkpoint=checkpoint,
                emotions=_emotions_spec(emotions),
                modalities=modalities,
                face_backend=face_backend,
                asr_model=asr_model,
                glove=glove,
                smoothing_tau=float(smoothing),
            )
        )
        need = {"face": "visual", "voice": "acoustic", "speech": "text"}
        mods = set(self.engine.modalities)
        stages = tuple(n for n in ("face", "voice", "speech") if need[n] in mods)
        if "speech" in stages and "voice" not in stages:
            stages = stages + ("voice",)  # an utterance ends after unvoiced audio: the voice stage tells
        self.session = Session(
            SessionOptions(
                face=FaceOptions(backend=face_backend, rate_hz=float(face_rate)),
                speech=SpeechOptions.live(model=asr_model),
                stages=stages,
            ),
            self.engine,
        )
        self.session.load(wait=stages)
        self.session.start()
        self._t = -math.inf
        self._closed = False

    @property
    def emotions(self) -> list[str]:
        return list(self.engine.emotions)

    @property
    def notices(self) -> list[str]:
        """One line per stage that could not load (its modality is masked) or per skipped input."""
        return list(self.session.notices)

    @property
    def transcript(self) -> str:
        """The words committed so far."""
        return self.session.transcript()

    def push_frame(self, t: float, frame_bgr: np.ndarray):
        """A camera frame at stream time ``t``; analysed when due (at most ``face_rate`` per second).

        Returns the :class:`livemer.stages.FaceObservation` (face found, box, AUs) or None when skipped.
        """
        self._check_open()
        self._t = max(self._t, float(t))
        if "face" not in self.session.options.stages:
            return None
        return self.session.push_frame(float(t), frame_bgr)

    def push_audio(self, t_end: float, samples: np.ndarray, sr: int = SR) -> None:
        """Mono audio whose last sample is at stream time ``t_end``."""
        self._check_open()
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if sr != SR:
            import soxr

            x = soxr.resample(x, sr, SR).astype(np.float32)
        self._t = max(self._t, float(t_end))
        stages = self.session.options.stages
        if "voice" in stages:
            self.session.push_audio(float(t_end), x)
        if "speech" in stages:
            self.session.push_speech(float(t_end), x)
            self.session.decode_speech()

    def result(self, t: float | None = None):
        """The model's result on the window ending at ``t`` (default: the latest pushed time)."""
        self._check_open()
        if t is None:
            if not math.isfinite(self._t):
                return None
            t = self._t
        return self.session.result(float(t), voice_on="voice" in self.session.options.stages)

    def finish(self):
        """The end of the stream: pending frames and words go in; returns the last result."""
        self._check_open()
        self.session.flush()
        return self.result()

    def reset(self) -> None:
        """A new stream from time 0 with the loaded models."""
        self._check_open()
        self.session.start()
        self._t = -math.inf

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.session.close()

    def _check_open(self) -> None:
        if self._closed:
            raise LivemerError("Recognizer: closed")

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Analysis", "analyze", "Recognizer"]
