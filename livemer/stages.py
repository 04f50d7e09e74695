"""The stage contract: face, voice (acoustic + voice presence) and speech, once for every driver.

Each stage is one object with one typed options dataclass and the same life cycle::

    stage = FaceStage(FaceOptions(rate_hz=5.0))
    stage.load()            # heavy models (idempotent; may run in a loader thread)
    stage.warmup()          # first-call costs paid before the data arrives (best effort)
    out = stage.push(t, x)  # timestamped frames or audio -> rows for the aligner
    out = stage.flush()     # the end of the stream: what is still pending
    stage.reset()           # a new stream (the next file) with the loaded models
    stage.close()           # release native resources

The live driver (:mod:`livemer.live`) pushes from its worker threads, the file
driver (:mod:`livemer.offline`) pushes a whole file as fast as it decodes; the
rules that decide what the model sees live here and nowhere else:

* which frames the face analyses (:meth:`FaceOptions.due`), how a face result
  becomes a visual row (:meth:`FaceStage.row`: Facet-35, or the checkpoint's richer space), and when a face counts as
  present (:func:`face_presence`);
* which acoustic frames are voiced, the one place a speech gate plugs in
  (:meth:`VoiceStage.voiced`), and when voice counts as present
  (:func:`voice_presence`);
* the recogniser's options (:class:`SpeechOptions`), when a live utterance ends
  (:meth:`SpeechStage.utterance_ended`) and how words become aligner inputs
  (:func:`word_inputs`).

Feature spaces come from the checkpoint (the engine checks them); the stages
only produce the running adapters' layouts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from .loading import import_heavy

log = logging.getLogger(__name__)

SR = 16000


# --------------------------------------------------------------------------- pure rules


def word_inputs(tokens: Sequence) -> list:
    """Text steps (``TextToken``) -> aligner words; OOV tokens keep their step, without a vector."""
    from feature_adapters.align import WordInput

    out = []
    for tok in tokens:
        oov = bool(getattr(tok, "oov", False))
        text = str(getattr(tok, "token", None) or getattr(tok, "word", "")).strip()
        out.append(
            WordInput(text, float(tok.start), float(tok.end), None if oov else np.asarray(tok.vector, np.float32), oov)
        )
    return out


def voice_presence(times: np.ndarray, voiced: np.ndarray, ends: np.ndarray, hold: float) -> np.ndarray:
    """For each time ``e`` in ``ends``: a voiced frame lies in ``[e - hold, e)`` (pure; the one voice rule).

    Frames at ``e`` itself are not yet seen, as in the aligner (causal windows).
    """
    tv = np.asarray(times, dtype=np.float64)[np.asarray(voiced, dtype=bool)]
    ends = np.asarray(ends, dtype=np.float64)
    if tv.size == 0:
        return np.zeros(ends.shape, dtype=bool)
    hi = np.searchsorted(tv, ends - 1e-9, "left")
    lo = np.searchsorted(tv, ends - hold - 1e-9, "left")
    return hi > lo


def face_presence(times: np.ndarray, found: np.ndarray, ends: np.ndarray, hold: float) -> np.ndarray:
    """For each time ``e``: the latest analysed frame before ``e`` had a face and is at most ``hold`` s old (pure)."""
    times = np.asarray(times, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    if times.size == 0:
        return np.zeros(ends.shape, dtype=bool)
    idx = np.searchsorted(times, ends - 1e-9, "left") - 1
    j = np.clip(idx, 0, None)
    return (idx >= 0) & (ends - times[j] <= hold) & np.asarray(found, dtype=bool)[j]


# --------------------------------------------------------------------------- options


@dataclass
class FaceOptions:
    """Face analysis: the backend, its input size and how many frames per second it analyses."""

    backend: str = "auto"  # auto | mediapipe | pyfeat
    rate_hz: float = 15.0  # analysed frames per second at most (live: 15; file mode: 5, one per 0.2 s result)
    max_width: int = 640  # wider frames are downscaled before the backend (boxes are mapped back)
    presence_hold_s: float = 1.0  # a face result counts as present for this long
    max_faces: int = 1  # faces the backend finds per frame (MediaPipe); the model scores the largest

    def due(self, t: float, last_t: float) -> bool:
        """Whether a frame at ``t`` is analysed when the last one analysed was at ``last_t``: the first
        frame of each ``1 / rate_hz`` slot (every frame without a rate)."""
        if not self.rate_hz or self.rate_hz <= 0 or not math.isfinite(last_t):
            return True
        return math.floor(t * self.rate_hz + 1e-9) != math.floor(last_t * self.rate_hz + 1e-9)

    def hold(self) -> float:
        """Seconds a face result counts as present: ``presence_hold_s``, or two sampling periods if longer."""
        rate = self.rate_hz if self.rate_hz and self.rate_hz > 0 else math.inf
        return max(self.presence_hold_s, 2.0 / rate)

    def tolerance(self) -> float:
        """Seconds a step may reach for the nearest frame when none falls inside it: half a sampling
        period (at least the aligner's default), so a short word between two sampled frames sees the face."""
        from feature_adapters.align import DEFAULT_TOLERANCE

        if not self.rate_hz or self.rate_hz <= 0:
            return DEFAULT_TOLERANCE
        return max(DEFAULT_TOLERANCE, 0.5 / self.rate_hz + 1e-3)


class SpeechGate(Protocol):
    """Decides which acoustic frames are speech (e.g. Silero VAD); one per audio stream, made by
    ``VoiceOptions.gate``. It may hold frames back until it has decided them (a look-ahead)."""

    def push(self, chunk: np.ndarray, t0: float | None, frames) -> tuple[Any, np.ndarray | None]:
        """Feed the audio ``frames`` came from; the frames now decided, with their speech flags."""

    def flush(self, frames) -> tuple[Any, np.ndarray | None]:
        """The end of the stream: every frame held, with its flags."""

    def reset(self) -> None:
        """A new stream."""

    def reason(self, start: float | None, end: float | None) -> str | None:
        """Why ``[start, end)`` of the stream holds no speech (None: it does)."""


def silero_gate() -> SpeechGate:
    """The default speech gate: Silero VAD (bundled in faster-whisper), :mod:`feature_adapters.speech_gate`."""
    from feature_adapters.speech_gate import silero_gate as make

    return make()


@dataclass
class VoiceOptions:
    """Voice analysis: the acoustic extractor, the COVAREP-74 adapter and voice presence."""

    sr: int = SR
    presence_hold_s: float = 0.5  # voice counts as present for this long after a voiced frame
    # makes the speech gate ANDed into the voicing flag: only speech counts as a voice (None: any voiced sound)
    gate: Callable[[], SpeechGate] | None = silero_gate

    @classmethod
    def gated(cls, speech_gate: bool = True, **kw) -> VoiceOptions:
        """With the Silero speech gate, or with none (``speech_gate=False``: any voiced sound is a voice)."""
        return cls(gate=silero_gate if speech_gate else None, **kw)


@dataclass
class SpeechOptions:
    """The recogniser's options, for live and file mode alike (:meth:`live` / :meth:`file` presets)."""

    model: str | None = None  # None: the bundled tiny.en
    threads: int | None = 1  # CPU threads of the recogniser; one: the other stages share the cores
    beam_size: int | None = None  # None: the recogniser's own (5)
    fit_window: bool = True  # encode only the buffer's length, not a zero-padded 30 s window
    temperatures: tuple[float, ...] | None = None  # None: the recogniser's fallback ladder
    max_tokens_per_s: float | None = None  # a decoder loop is cut cheaply instead of retried
    interval_s: float = 0.6  # live: seconds of new audio between decodes
    endpoint_s: float = 0.8  # live: unvoiced seconds after speech that end an utterance (its words commit)
    trim_s: float = 8.0  # live buffer trimming (bounds the cost of each decode)
    max_buffer_s: float = 12.0

    @classmethod
    def live(cls, **kw) -> SpeechOptions:
        """Greedy, one temperature, a token cap: each live decode re-reads the buffer, so it must be cheap."""
        return cls(**{"beam_size": 1, "temperatures": (0.0,), "max_tokens_per_s": 12.0, **kw})

    @classmethod
    def file(cls, **kw) -> SpeechOptions:
        """One pass over the whole audio with the recogniser's own beam, at temperature 0 only (as live), and
        live's token cap. Whisper's temperature fallback samples from CTranslate2's per-thread generator, which
        Python cannot reseed, so one file read differently from one process to the next ('i feel your son and
        tired', 'i f e', 'i feel so tired' for one espeak clip; a Dask worker and a local run disagreed):
        file mode is deterministic without it. The cap (16 + 12 tokens a second of audio, at most 200) is far
        above speech (3-4 tokens a second) and keeps a decoder loop cheap: with the fallback ladder (beam 5 at
        six temperatures) a loop cost 13-16 CPU-s on a 1.7 s clip (``benchmarks/bench_batch.py --asr-loops``)."""
        return cls(**{"max_tokens_per_s": 12.0, "temperatures": (0.0,), **kw})

    def decode_changes(self) -> dict[str, Any]:
        """The ``with_options`` changes these options make to a loaded recogniser."""
        ch: dict[str, Any] = {"fit_window": self.fit_window}
        if self.temperatures is not None:
            ch["temperatures"] = tuple(self.temperatures)
        if self.max_tokens_per_s is not None:
            ch["max_tokens_per_s"] = float(self.max_tokens_per_s)
        if self.beam_size:
            ch["beam_size"] = int(self.beam_size)
        return ch


# --------------------------------------------------------------------------- stages


@dataclass
class FaceObservation:
    """One analysed frame: the visual row for the aligner and the backend's result for the overlay."""

    t: float
    row: np.ndarray  # (d_v,) float32; zeros without a face
    valid: bool  # a usable row (face found, finite)
    found: bool
    result: Any  # FaceResult, its box in the pushed frame's pixels
    #: With ``max_faces > 1``: every face found, largest first (``result.faces()``), as
    #: ``(face_id, row, valid)``; the ids come from the stage's tracker (stable while a face stays in view).
    faces: tuple = ()


class FaceStage:
    """Face backend + visual adapter; ``push(t, frame)`` analyses the frames :meth:`FaceOptions.due` picks.

    ``space`` names the visual space of the rows (:func:`feature_adapters.blendshapes.visual_spaces`; the
    session sets the checkpoint's): ``facet-35`` by default, or Facet-35 then the 52 blendshapes.
    """

    name, modality = "face", "visual"

    def __init__(self, options: FaceOptions | None = None, dim: int = 35, space: str = "facet-35") -> None:
        self.options = options or FaceOptions()
        self.dim = int(dim)
        self.space = str(space)
        self.backend = None
        self.adapter = None
        self._last_t = -math.inf
        self._ts_base = 0.0  # ms added to frame times so a reused tracker always sees time move on
        self._ts_last = 0.0
        self._seen = False  # the tracker has seen a stream (MediaPipe's results depend on the timestamps)
        self._factory = None  # makes the backend (None: it was handed in)
        self.tracker = None  # a FaceTracker when several faces are analysed (stable ids)
        if int(self.options.max_faces) > 1:
            from feature_adapters.face_tracker import FaceTracker

            self.tracker = FaceTracker()

    def load(self, backend=None) -> FaceStage:
        """Build the backend (or adopt ``backend``) and its Facet adapter; raises the backend's error."""
        if self.backend is None:
            if backend is None:
                import_heavy("face")
                from feature_adapters.face import make_face_backend

                n = int(self.options.max_faces)
                kw = {"num_faces": n} if n > 1 else {}
                self._factory = lambda: make_face_backend(self.options.backend, **kw)
                backend = self._factory()
            self.backend = backend
        if self.adapter is None or self.adapter.space.name != self.space:
            from feature_adapters.blendshapes import VisualAdapter

            self.adapter = VisualAdapter(self.space, getattr(self.backend, "name", None) or self.options.backend)
            self.dim = self.adapter.dim
        return self

    def use_space(self, space: str) -> None:
        """Produce rows of the visual space ``space`` from now on (a new adapter when it changes)."""
        self.space = str(space)
        if self.backend is not None:
            self.load()

    @property
    def loaded(self) -> bool:
        return self.backend is not None

    def warmup(self, frame: np.ndarray | None = None, frames: int = 3) -> FaceObservation | None:
        """Analyse ``frame`` (the camera's first picture; None: a grey frame, which warms the detector only)
        ``frames`` times on the loaded backend, so the working memory of detection, landmarks, blendshapes and
        the Facet adapter exists before the stream, then replace that backend by a fresh one: MediaPipe's
        VIDEO mode carries tracking and smoothing state from frame to frame (even across black frames and a
        time gap), so only a fresh landmarker gives the stream what file mode's gives (the live/file parity
        test runs a warmed live session). The warmed one is closed first: the fresh one reuses the memory
        the allocator kept. A backend handed in (``load(backend)``) is not replaced, nor warmed. Returns the
        last observation with a face (the live view draws its warm-up overlay on it)."""
        if self._factory is None or self.backend is None:
            return None
        if frame is None:
            frame = np.full((360, 640, 3), 128, np.uint8)
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        seen = None
        for k in range(frames):
            obs = self.push(k / 15.0, frame, force=True)
            if obs.found:
                seen = obs
        warmed, self.backend = self.backend, None
        try:
            warmed.close()
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            log.debug("closing the warmed face backend failed: %s", exc)
        self.backend = self._factory()
        self._last_t, self._ts_base, self._ts_last, self._seen = -math.inf, 0.0, 0.0, False
        if self.tracker is not None:
            self.tracker.reset()
        return seen

    def due(self, t: float) -> bool:
        return self.options.due(t, self._last_t)

    def row(self, result) -> tuple[np.ndarray, bool]:
        """A face result -> (visual row, valid). No face: zeros and False (the step is masked, not faked)."""
        if result is None or not getattr(result, "face_found", False):
            return np.zeros(self.dim, np.float32), False
        row = np.asarray(self.adapter.adapt_result(result), np.float32).reshape(-1)
        return row, bool(np.all(np.isfinite(row)))

    def push(self, t: float, frame: np.ndarray, force: bool = False) -> FaceObservation | None:
        """Analyse ``frame`` shown at stream time ``t`` (None when over the rate, unless ``force``)."""
        if not force and not self.due(t):
            return None
        self._last_t = t
        img, scale = frame, 1.0
        if img.shape[1] > self.options.max_width:
            import cv2

            scale = self.options.max_width / img.shape[1]
            img = cv2.resize(
                img, (self.options.max_width, int(round(img.shape[0] * scale))), interpolation=cv2.INTER_AREA
            )
        ts = self._ts_base + t * 1000.0
        self._ts_last = max(self._ts_last, ts)
        self._seen = True
        res = self.backend.process(img, ts)
        row, ok = self.row(res)
        if scale != 1.0 and getattr(res, "box", None) is not None:
            others = [
                replace(o, box=tuple(v / scale for v in o.box)) for o in getattr(res, "others", ()) if o.box is not None
            ]
            res = replace(res, box=tuple(v / scale for v in res.box), others=others)
        faces: tuple = ()
        if self.tracker is not None:
            found = res.faces()[: int(self.options.max_faces)]
            ids = self.tracker.update(t, [f.box for f in found])
            faces = tuple((i, *(self.row(f) if k else (row, ok))) for k, (i, f) in enumerate(zip(ids, found)))
        return FaceObservation(float(t), row, ok, bool(res.face_found), res, faces)

    def flush(self) -> None:
        return None

    def end_stream(self, t_end: float) -> None:
        """The stream lasted ``t_end`` s (past its last analysed frame): the next one starts 1 s after that."""
        if self._seen:
            self._ts_last = max(self._ts_last, self._ts_base + t_end * 1000.0)

    def reset(self) -> None:
        """A new stream: time 0 of the tracker's first stream, else 1 s after everything it has seen."""
        self._last_t = -math.inf
        if self._seen:
            self._ts_base = self._ts_last + 1000.0
        if self.tracker is not None:
            self.tracker.reset()

    def close(self) -> None:
        """Close the backend explicitly (a MediaPipe landmarker closed by the garbage collector can deadlock)."""
        backend, self.backend, self.adapter = self.backend, None, None
        if backend is not None and hasattr(backend, "close"):
            try:
                backend.close()
            except Exception as exc:  # noqa: BLE001 - closing is best effort
                log.debug("closing the face backend failed: %s", exc)


@dataclass
class AcousticRows:
    """Acoustic frames in the model's layout: times (k,), COVAREP-74 features (k, d_a), voiced (k,)."""

    times: np.ndarray
    features: np.ndarray
    voiced: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @classmethod
    def empty(cls, dim: int = 74) -> AcousticRows:
        return cls(np.zeros(0), np.zeros((0, dim), np.float32), np.zeros(0, bool))


class VoiceStage:
    """Acoustic extractor + COVAREP-74 adapter + the voicing rule; ``push(t0, samples)`` streams audio."""

    name, modality = "voice", "acoustic"

    def __init__(self, options: VoiceOptions | None = None) -> None:
        self.options = options or VoiceOptions()
        self.extractor = None
        self.adapter = None
        self.gate: SpeechGate | None = None

    def load(self) -> VoiceStage:
        if self.extractor is None:
            import_heavy("acoustic")
            from feature_adapters.acoustic import StreamingAcousticExtractor
            from feature_adapters.covarep import CovarepAdapter

            self.adapter = CovarepAdapter()
            self.extractor = StreamingAcousticExtractor(self.options.sr)
            self.gate = self.options.gate() if self.options.gate is not None else None
        return self

    @property
    def loaded(self) -> bool:
        return self.extractor is not None

    def warmup(self) -> None:
        try:
            self.extractor.warmup()  # compiles librosa's numba kernels
        except Exception as exc:  # noqa: BLE001 - only a warm-up; the first block pays instead
            log.debug("acoustic warm-up failed: %s", exc)

    @staticmethod
    def voiced(frames, speech: np.ndarray | None = None) -> np.ndarray:
        """Which frames count as voice: the extractor's periodicity + energy gate, ANDed with the speech
        gate's flags when there is a gate. The one voicing rule of every driver (silence and noise are
        masked, never faked)."""
        if len(frames) == 0:
            return np.zeros(0, dtype=bool)
        v = np.asarray(frames.is_voiced, dtype=bool)
        return v if speech is None else v & np.asarray(speech, dtype=bool).reshape(v.shape)

    def rows(self, frames, speech: np.ndarray | None = None) -> AcousticRows:
        if len(frames) == 0:
            return AcousticRows.empty()
        feats = np.asarray(self.adapter.adapt(frames), np.float32)
        return AcousticRows(np.asarray(frames.times, np.float64), feats, self.voiced(frames, speech))

    def push(self, t0: float, samples: np.ndarray) -> AcousticRows:
        """Audio starting at stream time ``t0`` -> the frames it completes (and the gate has decided)."""
        frames = self.extractor.push(samples, t0=t0)
        if self.gate is None:
            return self.rows(frames)
        return self.rows(*self.gate.push(samples, t0, frames))

    def flush(self) -> AcousticRows:
        frames = self.extractor.flush()
        if self.gate is None:
            return self.rows(frames)
        return self.rows(*self.gate.flush(frames))

    def analyse(self, audio: np.ndarray) -> AcousticRows:
        """A whole signal at ``options.sr`` from time 0 (file mode): the same frames and flags as pushing it."""
        from feature_adapters.acoustic import AcousticFrames, extract_acoustic

        frames = extract_acoustic(audio, self.options.sr)
        gate = self.gate  # a new stream: its decisions stay for no_voice_reason
        if gate is None:
            return self.rows(frames)
        gate.reset()
        ready, flags = gate.push(audio, 0.0, frames)
        rest, more = gate.flush(AcousticFrames.empty())
        if len(rest):
            ready, flags = AcousticFrames.concat([ready, rest]), np.concatenate([flags, more])
        return self.rows(ready, flags)

    def no_voice_reason(self, start: float | None = None, end: float | None = None) -> str | None:
        """The speech gate's reason why ``[start, end)`` of the stream (the whole stream by default) holds
        no speech: ``no speech (silence)`` or ``no speech detected (...)``; None: speech there, or no gate."""
        return self.gate.reason(start, end) if self.gate is not None else None

    def reset(self) -> None:
        if self.extractor is not None:
            self.extractor.reset()
        if self.gate is not None:
            self.gate.reset()

    def close(self) -> None:
        self.extractor = None
        self.gate = None


def voiced_tone(seconds: float, sr: int = SR) -> np.ndarray:
    """A voiced, vowel-like warm-up sound: 140 Hz with harmonics, rising and falling (float32, level 0.1)."""
    t = np.arange(int(round(seconds * sr))) / sr
    wave = sum(np.sin(2 * np.pi * 140.0 * k * t) / k for k in range(1, 6)) * np.sin(np.pi * t / max(t[-1], 1e-9))
    return (0.1 * wave).astype(np.float32)


def warm_asr(asr) -> None:
    """Run the recogniser once on a short noise burst (VAD and decoder sessions initialise lazily,
    which would otherwise stall the first live decode for seconds)."""
    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal(16000)).astype(np.float32)
    try:
        asr.transcribe(noise)  # loads the VAD
        model = getattr(asr, "model", None)
        if model is not None:  # and one decoder pass without the VAD
            segments, _ = model.transcribe(noise, language="en", beam_size=1, vad_filter=False, without_timestamps=True)
            list(segments)
    except Exception as exc:  # noqa: BLE001 - warming up is best effort
        log.debug("ASR warm-up failed: %s", exc)


class SpeechStage:
    """The recogniser with :class:`SpeechOptions`; streaming (``push``) or one pass (:meth:`transcribe`).

    ``push(t_end, samples, pause=...)`` queues audio and decodes when due: every
    ``interval_s`` of new audio, or at once when ``pause`` says the utterance has
    ended (then everything pending commits). It returns the newly committed words.
    """

    name, modality = "speech", "text"

    def __init__(self, options: SpeechOptions | None = None) -> None:
        self.options = options or SpeechOptions()
        self.recogniser = None
        self.transcriber = None
        self._new_audio = 0.0
        self.audio_end = 0.0
        self._flushed_upto = -math.inf  # stream time up to which an utterance end was committed
        self.last_decode = ""  # "decode", "end of utterance" or "flush"

    def load(self, recogniser=None) -> SpeechStage:
        if self.recogniser is None:
            if recogniser is None:
                import_heavy("asr")
                from feature_adapters.asr import load_asr

                recogniser = load_asr(self.options.model, threads=self.options.threads)
            self.recogniser = recogniser.with_options(**self.options.decode_changes())
        self.reset()
        return self

    @property
    def loaded(self) -> bool:
        return self.recogniser is not None

    def warmup(self) -> None:
        """The recogniser's lazy sessions (:func:`warm_asr`), then one streaming decode at the longest buffer
        the stream decodes (``max_buffer_s`` plus one interval of a voiced tone, its VAD threshold at 0 so
        the VAD passes it all and the encoder runs at its longest input), so the working memory of the VAD,
        the feature extractor, the encoder and the decoder for it exists before the stream; the stage's
        transcriber is then reset (the warm-up's words are dropped)."""
        warm_asr(self.recogniser)
        from feature_adapters.asr import StreamingTranscriber

        seconds = self.options.max_buffer_s + self.options.interval_s
        # the VAD passes it all; 16 tokens at most (0.01 a second): the decoder's cost stays small, the
        # encoder still runs at full length (on the CLI this warm-up may overlap the stream's first seconds)
        everything = self.recogniser.with_options(vad_threshold=0.0, max_tokens_per_s=0.01)
        tr = StreamingTranscriber(everything, trim_s=seconds + 1.0, max_buffer_s=seconds + 1.0)
        try:
            tr.push(voiced_tone(seconds), seconds)
            tr.process()
            tr.flush()
        except Exception as exc:  # noqa: BLE001 - warming up is best effort
            log.debug("ASR buffer warm-up failed: %s", exc)
        self.reset()

    def utterance_ended(self, last_analysed: float, last_voiced: float) -> bool:
        """The voice analysis saw voiced audio after the last committed utterance end, then at least
        ``endpoint_s`` without voice, and it has analysed the audio up to (nearly) the end of what the
        recogniser holds, so no new speech hides at the end."""
        return (
            math.isfinite(last_voiced)
            and last_voiced > self._flushed_upto
            and last_analysed >= self.audio_end - 0.25
            and last_analysed - last_voiced >= self.options.endpoint_s
        )

    def push(self, t_end: float, samples: np.ndarray) -> None:
        """Queue 16 kHz audio ending at stream time ``t_end`` (no decode)."""
        self.transcriber.push(samples, t_end)
        self._new_audio += samples.size / SR
        self.audio_end = float(t_end)

    def decode(self, pause: Callable[[], bool] | None = None) -> list | None:
        """Decode when due; the newly committed words, or None when no decode was due."""
        if pause is not None and pause():
            # end of an utterance: one decode commits it all, instead of waiting for a second,
            # agreeing hypothesis (LocalAgreement) after the speaker has stopped
            self.last_decode = "end of utterance"
            self._new_audio = 0.0
            self._flushed_upto = self.audio_end
            return self.transcriber.flush()
        if self._new_audio >= self.options.interval_s:
            self.last_decode = "decode"
            self._new_audio = 0.0
            return self.transcriber.process()
        return None

    def flush(self) -> list:
        self.last_decode = "flush"
        return self.transcriber.flush()

    def transcribe(self, audio: np.ndarray) -> list:
        """All timed words of a whole signal (file mode: one pass)."""
        return list(self.recogniser.transcribe_file_audio(audio))

    @property
    def committed_words(self) -> list:
        return self.transcriber.committed_words if self.transcriber is not None else []

    @property
    def pending_words(self) -> list:
        return self.transcriber.pending_words if self.transcriber is not None else []

    @property
    def pending_text(self) -> str:
        return self.transcriber.pending_text if self.transcriber is not None else ""

    def reset(self) -> None:
        if self.recogniser is not None:
            from feature_adapters.asr import StreamingTranscriber

            self.transcriber = StreamingTranscriber(
                self.recogniser, trim_s=self.options.trim_s, max_buffer_s=self.options.max_buffer_s
            )
        self._new_audio, self.audio_end, self._flushed_upto = 0.0, 0.0, -math.inf

    def close(self) -> None:
        self.transcriber = None


__all__ = [
    "FaceOptions",
    "VoiceOptions",
    "SpeechOptions",
    "SpeechGate",
    "FaceStage",
    "VoiceStage",
    "SpeechStage",
    "FaceObservation",
    "AcousticRows",
    "word_inputs",
    "voice_presence",
    "face_presence",
    "warm_asr",
    "voiced_tone",
]
