"""Speech gate: only speech counts as a voice.

The acoustic extractor's voicing flag (periodicity + energy) accepts any periodic
or loud sound, so noise, music, tones and hum reached the model as a "voice"
(six seconds of pink noise were read as anger 0.998). The gate decides, for
every 32 ms of audio, whether it holds speech; callers AND its mask with the
voicing flag.

Detector: Silero VAD v6, the ONNX model that ships inside faster-whisper 1.2.1
(``faster_whisper.vad.get_vad_model()``, the session the speech recogniser's
own VAD uses; no download). It scores windows of 512 samples at 16 kHz
(32 ms), each with the 64 samples before it as context and the LSTM state
carried from window to window, exactly as faster-whisper's batch call does.

Decisions (:class:`SpeechGateOptions`), per window:

1. *candidate run*: starts at a window whose speech probability is at least
   ``threshold`` and lasts while it stays at least ``neg_threshold``
   (hysteresis, Silero's own rule);
2. a run is speech once it has lasted ``min_speech_ms`` *and* either reached
   ``peak_threshold`` or lasted ``long_speech_ms``: Silero gives short,
   lukewarm runs (at most 9 windows, 0.29 s, peaks 0.5-0.84) on the onsets of
   harmonic tones, hum, sweeps, chords and sung notes and on loud white noise,
   while speech runs are long (median 41 windows) or confident; these rules
   keep 98.8 % of the windows of Silero's speech runs (RAVDESS and the four
   speech corpora; peak alone: 96.8 %) and none of the non-speech runs
   (``benchmarks/bench_speech_gate.py`` measures the result);
3. a kept run is extended by ``hangover_ms`` after its last window (word
   endings, unvoiced consonants).

The run figures above come from the rules' tuning set (synthetic seeds 0
and 2, with and without 0.5 s of silence before the sound); the benchmark
measures on seed 1. No pitch, harmonicity or spectral-flatness guard is
added: with the run rules no synthetic non-speech example of any category
(noise of three colours at four levels, pure and harmonic tones, sung-like
vibrato notes, plucked chords and saw melodies, drums, click trains, sweeps,
hum, syllable-rate modulated noise) keeps any speech window there, so a
further guard could only cost speech.

A window in a run waits at most ``long_speech_ms`` for the run to qualify,
so every decision depends only on the audio up to ``long_speech_ms`` after
it, and :class:`StreamingSpeechGate` (``push`` chunks, bounded memory)
decides exactly what the batch function :func:`speech_mask` decides on the
same audio (the batch function *is* the streaming gate fed the whole signal,
then flushed). A confident speech run qualifies ``min_speech_ms`` after its
start (:attr:`StreamingSpeechGate.decided_until` says how far decisions are
final).

When a span holds no speech, :meth:`SpeechMask.reason` says why:
``"no speech (silence)"`` when the span is quieter than ``silence_dbfs``,
else ``"no speech detected (noise, music or other sound)"``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .errors import LivemerError

SR = 16000
WINDOW = 512  # samples per Silero decision at 16 kHz (32 ms)
CONTEXT = 64  # samples of left context Silero takes with each window
HOP_S = WINDOW / SR
REASON_SILENCE = "no speech (silence)"
REASON_NOT_SPEECH = "no speech detected (noise, music or other sound)"
_DB_FLOOR = -100.0


class SpeechGateError(LivemerError, ValueError):
    """Bad gate options or input (one-line message)."""


@dataclass(frozen=True)
class SpeechGateOptions:
    """How the gate turns Silero's per-window speech probabilities into a speech mask."""

    threshold: float = 0.5  # a run of speech starts at a window with probability >= threshold
    neg_threshold: float = 0.35  # ... and lasts while the probability stays >= neg_threshold
    min_speech_ms: float = 128.0  # shorter runs are dropped (tone-onset blips)
    peak_threshold: float = 0.85  # ... and so are runs whose probability never reaches this,
    long_speech_ms: float = 384.0  # ... unless they last this long
    hangover_ms: float = 96.0  # speech continues this long after a kept run's last window
    silence_dbfs: float = -55.0  # a span below this RMS level is reported as silence, not as non-speech

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise SpeechGateError(f"speech threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 < self.neg_threshold <= self.threshold:
            raise SpeechGateError(
                f"speech end threshold must be in (0, threshold={self.threshold}], got {self.neg_threshold}"
            )
        if not self.threshold <= self.peak_threshold <= 1.0:
            raise SpeechGateError(
                f"peak threshold must be in [threshold={self.threshold}, 1], got {self.peak_threshold}"
            )
        for name in ("min_speech_ms", "long_speech_ms", "hangover_ms"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise SpeechGateError(f"{name} must be a non-negative number of milliseconds, got {v}")
        if not math.isfinite(self.silence_dbfs):
            raise SpeechGateError(f"silence_dbfs must be finite, got {self.silence_dbfs}")
        if self.long_speech_ms < self.min_speech_ms:
            raise SpeechGateError(
                f"long_speech_ms ({self.long_speech_ms}) must be at least min_speech_ms ({self.min_speech_ms})"
            )

    @property
    def min_windows(self) -> int:
        return max(1, int(math.ceil(self.min_speech_ms / (1000.0 * HOP_S) - 1e-9)))

    @property
    def long_windows(self) -> int:
        return max(self.min_windows, int(math.ceil(self.long_speech_ms / (1000.0 * HOP_S) - 1e-9)))

    @property
    def hangover_windows(self) -> int:
        return int(math.ceil(self.hangover_ms / (1000.0 * HOP_S) - 1e-9))


@dataclass
class SpeechMask:
    """Decided gate windows: window ``k`` covers ``[starts[k], starts[k] + hop)`` seconds."""

    starts: np.ndarray  # (n,) window start times, increasing
    speech: np.ndarray  # (n,) bool
    level_db: np.ndarray  # (n,) RMS level of each window, dBFS
    prob: np.ndarray  # (n,) Silero speech probability
    hop: float = HOP_S
    silence_dbfs: float = SpeechGateOptions.silence_dbfs

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    @property
    def end(self) -> float:
        """Time just after the last decided window (``-inf`` when empty)."""
        return float(self.starts[-1] + self.hop) if len(self) else -math.inf

    def at(self, times) -> np.ndarray:
        """Speech flag at each time (False outside the decided windows)."""
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        if not len(self) or not t.size:
            return np.zeros(t.shape, dtype=bool)
        i = np.searchsorted(self.starts, t + 1e-9, "right") - 1
        ok = (i >= 0) & (t < self.starts[np.clip(i, 0, None)] + self.hop - 1e-9)
        return ok & self.speech[np.clip(i, 0, None)]

    def segments(self) -> list[tuple[float, float]]:
        """Speech as ``(start, end)`` seconds, adjacent windows merged."""
        if not len(self) or not self.speech.any():
            return []
        s = self.speech.astype(np.int8)
        d = np.diff(np.concatenate([[0], s, [0]]))
        on, off = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
        out: list[tuple[float, float]] = []
        for a, b in zip(on, off):
            lo, hi = float(self.starts[a]), float(self.starts[b] + self.hop)
            if out and lo - out[-1][1] < 1e-6:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        return out

    def _span(self, start: float | None, end: float | None) -> np.ndarray:
        lo = -math.inf if start is None else float(start)
        hi = math.inf if end is None else float(end)
        return (self.starts + self.hop > lo + 1e-9) & (self.starts < hi - 1e-9)

    def reason(self, start: float | None = None, end: float | None = None) -> str | None:
        """None when ``[start, end)`` holds speech, else why not (silence or another sound)."""
        sel = self._span(start, end)
        if self.speech[sel].any():
            return None
        if not sel.any() or float(np.max(self.level_db[sel])) < self.silence_dbfs:
            return REASON_SILENCE
        return REASON_NOT_SPEECH

    def reasons(self, ends, hop: float) -> list[str | None]:
        """:meth:`reason` of every ``[e - hop, e)`` (pure)."""
        return [self.reason(float(e) - hop, float(e)) for e in np.asarray(ends, dtype=np.float64).reshape(-1)]

    @classmethod
    def empty(cls, silence_dbfs: float = SpeechGateOptions.silence_dbfs) -> SpeechMask:
        z = np.zeros(0)
        return cls(z, np.zeros(0, bool), z.copy(), z.copy(), HOP_S, silence_dbfs)

    @classmethod
    def concat(cls, parts: list[SpeechMask]) -> SpeechMask:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.starts for p in parts]),
            np.concatenate([p.speech for p in parts]),
            np.concatenate([p.level_db for p in parts]),
            np.concatenate([p.prob for p in parts]),
            parts[0].hop,
            parts[0].silence_dbfs,
        )


def _silero_session():
    """The ONNX session of faster-whisper's bundled Silero VAD (shared with the recogniser's VAD filter)."""
    from faster_whisper.vad import get_vad_model

    model = get_vad_model()
    session = getattr(model, "session", None)
    if session is None:  # pragma: no cover - a faster-whisper other than 1.2.x
        raise SpeechGateError("this faster-whisper has no Silero VAD session (faster_whisper.vad.get_vad_model)")
    return session


class StreamingSpeechGate:
    """Incremental speech gate: ``push`` audio chunks, get the newly decided windows back.

    Memory is bounded: the unscored tail (< 512 samples), the pending windows of
    an undecided run (less than ``long_speech_ms``) and the decisions of the last
    ``history_s`` seconds before the latest chunk plus that chunk's (for :meth:`at`). ``t0`` handling follows
    :class:`feature_adapters.acoustic.StreamingAcousticExtractor`: the first
    chunk's ``t0`` sets the time of sample 0; a later ``t0`` off the expected
    time by more than ``gap_tolerance`` flushes the old stream and starts anew.
    Input at another ``sr`` is resampled to 16 kHz with a streaming soxr resampler.
    ``session``: an object with onnxruntime's ``run(None, feeds)`` (default: the bundled Silero).
    """

    def __init__(
        self,
        options: SpeechGateOptions | None = None,
        sr: int = SR,
        history_s: float = 60.0,
        gap_tolerance: float = 0.1,
        session=None,
    ) -> None:
        if int(sr) <= 0:
            raise SpeechGateError(f"sample rate must be positive, got {sr}")
        self.opt = options or SpeechGateOptions()
        self.sr = int(sr)
        self.gap_tolerance = float(gap_tolerance)
        self._keep = int(math.ceil(history_s / HOP_S)) if math.isfinite(history_s) else None
        self._session = session if session is not None else _silero_session()  # tests pass a scripted one
        self._hist = SpeechMask.empty(self.opt.silence_dbfs)
        self._decided_until = -math.inf
        self._reset(0.0)

    # state ------------------------------------------------------------------
    def _reset(self, origin: float) -> None:
        self._origin = float(origin)
        self._started = False
        self._n_input = 0  # samples received at the input rate
        self._tail = np.zeros(0, np.float32)  # 16 kHz samples not yet in a window
        self._context = np.zeros(CONTEXT, np.float32)
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._n_win = 0  # windows scored in this stream
        self._n_decided = 0  # windows decided in this stream
        self._pending: deque[tuple[float, float]] = deque()  # (prob, level) of undecided windows
        self._in_run = False
        self._run_len = 0
        self._run_peak = 0.0
        self._confirmed = False
        self._last_kept_end = -(10**12)  # window index of the last kept run's last window
        self._decided_until = max(self._decided_until, self._origin)
        self._resampler = None
        if self.sr != SR:
            import soxr

            self._resampler = soxr.ResampleStream(self.sr, SR, 1, dtype="float32")

    def reset(self, t0: float | None = None) -> None:
        """A new stream: undecided audio and the kept decisions are dropped; it starts at ``t0`` (default:
        just after the last sample)."""
        self._hist = SpeechMask.empty(self.opt.silence_dbfs)
        self._decided_until = -math.inf
        self._reset(self.time if t0 is None else t0)

    @property
    def time(self) -> float:
        """Time (s) just after the last received sample."""
        return self._origin + self._n_input / self.sr

    @property
    def decided_until(self) -> float:
        """Every time before this has its final decision (``-inf`` before any audio)."""
        return self._decided_until

    @property
    def mask(self) -> SpeechMask:
        """The retained decisions (the last ``history_s`` seconds)."""
        return self._hist

    def at(self, times) -> np.ndarray:
        """Speech flag at each time among the retained decisions (False elsewhere)."""
        return self._hist.at(times)

    # scoring ----------------------------------------------------------------
    def _score(self, y16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Silero probabilities and RMS levels of the complete windows in tail + ``y16``."""
        buf = np.concatenate([self._tail, y16]) if self._tail.size else y16
        k = buf.size // WINDOW
        self._tail = buf[k * WINDOW :].copy()
        if k == 0:
            return np.zeros(0), np.zeros(0)
        wins = buf[: k * WINDOW].reshape(k, WINDOW)
        ctx = np.concatenate([self._context[None, :], wins[:-1, -CONTEXT:]], axis=0)
        self._context = wins[-1, -CONTEXT:].copy()
        x = np.ascontiguousarray(np.concatenate([ctx, wins], axis=1), dtype=np.float32)
        probs, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        rms = np.sqrt(np.mean(np.square(wins, dtype=np.float64), axis=1))
        level = np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), _DB_FLOOR)
        return np.asarray(probs, np.float64).reshape(-1), level

    # decisions --------------------------------------------------------------
    def _decide(self, out: list, prob: float, level: float, in_kept_run: bool) -> None:
        i = self._n_decided
        speech = in_kept_run or (i - self._last_kept_end <= self.opt.hangover_windows)
        out.append((i, speech, level, prob))
        self._n_decided += 1

    def _end_run(self, out: list) -> None:
        """The current run ended after its last scored window."""
        if self._confirmed:
            self._last_kept_end = self._n_decided - 1
        else:  # too short: its pending windows are not speech (unless a kept run's hangover covers them)
            for p, lv in self._pending:
                self._decide(out, p, lv, False)
        self._pending.clear()
        self._in_run, self._run_len, self._run_peak, self._confirmed = False, 0, 0.0, False

    def _step(self, out: list, p: float, level: float) -> None:
        o = self.opt
        if self._in_run and p < o.neg_threshold:
            self._end_run(out)
        if not self._in_run:
            if p < o.threshold:
                self._decide(out, p, level, False)
                return
            self._in_run, self._run_len, self._run_peak, self._confirmed = True, 0, 0.0, False
        self._run_len += 1
        self._run_peak = max(self._run_peak, p)
        if self._confirmed:
            self._decide(out, p, level, True)
            return
        self._pending.append((p, level))
        if self._run_len >= o.min_windows and (self._run_peak >= o.peak_threshold or self._run_len >= o.long_windows):
            self._confirmed = True
            for pp, lv in self._pending:
                self._decide(out, pp, lv, True)
            self._pending.clear()

    def _commit(self, out: list) -> SpeechMask:
        if not out:
            return SpeechMask.empty(self.opt.silence_dbfs)
        idx = np.array([r[0] for r in out], np.int64)
        new = SpeechMask(
            self._origin + idx * HOP_S,
            np.array([r[1] for r in out], bool),
            np.array([r[2] for r in out], np.float64),
            np.array([r[3] for r in out], np.float64),
            HOP_S,
            self.opt.silence_dbfs,
        )
        self._decided_until = max(self._decided_until, new.end)
        self._hist = SpeechMask.concat([self._hist, new])
        return new

    def _trim(self) -> None:
        """Keep the last ``history_s`` seconds of decisions (done before each chunk: a whole signal pushed at
        once keeps all of its decisions)."""
        hist = self._hist
        if self._keep is not None and len(hist) > self._keep:
            k = len(hist) - self._keep
            self._hist = SpeechMask(
                hist.starts[k:], hist.speech[k:], hist.level_db[k:], hist.prob[k:], HOP_S, self.opt.silence_dbfs
            )

    def _feed(self, y16: np.ndarray) -> list:
        out: list = []
        probs, levels = self._score(y16)
        for p, lv in zip(probs, levels):
            self._step(out, float(p), float(lv))
        self._n_win += len(probs)
        return out

    # public -----------------------------------------------------------------
    def push(self, chunk: np.ndarray, t0: float | None = None) -> SpeechMask:
        """Add ``chunk`` (mono float samples at ``sr``); returns the windows decided by it."""
        x = np.asarray(chunk, dtype=np.float32)
        if x.ndim != 1:
            raise SpeechGateError(f"audio chunk must be mono (1-D), got shape {x.shape}")
        if x.size and not np.all(np.isfinite(x)):
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        self._trim()
        flushed = SpeechMask.empty(self.opt.silence_dbfs)
        if t0 is not None:
            if not self._started:
                self._origin = float(t0)
                self._decided_until = max(self._decided_until if len(self._hist) else -math.inf, self._origin)
            elif abs(float(t0) - self.time) > self.gap_tolerance:
                flushed = self.flush()
                self._reset(float(t0))
        if x.size:
            self._started = True
            self._n_input += int(x.size)
        if self._resampler is not None:
            x = np.asarray(self._resampler.resample_chunk(x, last=False), np.float32)
        new = self._commit(self._feed(x))
        return SpeechMask.concat([flushed, new]) if len(flushed) else new

    def flush(self) -> SpeechMask:
        """End of stream: score the zero-padded last window, decide every pending one; then start anew."""
        y = np.zeros(0, np.float32)
        if self._resampler is not None:
            y = np.asarray(self._resampler.resample_chunk(y, last=True), np.float32)
        out = self._feed(y)
        if self._tail.size:
            out += self._feed(np.zeros(WINDOW - self._tail.size, np.float32))
        if self._in_run:
            self._end_run(out)
        new = self._commit(out)
        self._decided_until = max(self._decided_until, self.time)
        self._reset(self.time)
        return new


def speech_mask(
    audio: np.ndarray, sr: int = SR, options: SpeechGateOptions | None = None, t0: float = 0.0
) -> SpeechMask:
    """The gate's decisions over a whole signal (the streaming gate fed it at once, then flushed)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise SpeechGateError(f"audio must be mono (1-D), got shape {x.shape}")
    if int(sr) != SR and x.size:
        import soxr

        x = np.asarray(soxr.resample(x, int(sr), SR, quality="HQ"), np.float32)
    gate = StreamingSpeechGate(options, SR, history_s=math.inf)
    return SpeechMask.concat([gate.push(x, t0=t0), gate.flush()])


def speech_segments(
    audio: np.ndarray, sr: int = SR, options: SpeechGateOptions | None = None
) -> list[tuple[float, float]]:
    """Speech in a whole signal as ``(start, end)`` seconds."""
    return speech_mask(audio, sr, options).segments()


class FrameGate:
    """Holds frames (anything with ``times``, ``select(mask)`` and ``concat``) until the gate has decided them.

    ``push(chunk, t0, frames)`` feeds the gate the same audio the frames came
    from and returns ``(ready_frames, speech_flags)``: the frames whose times
    are now decided, oldest first, with their speech flags. ``flush(frames)``
    ends the stream and releases everything. What is held is at most
    ``long_speech_ms`` plus one window of frames. Without a gate (``None``)
    frames pass straight through with no flags (``speech_flags`` is None).
    """

    def __init__(self, gate: StreamingSpeechGate | None) -> None:
        self.gate = gate
        self._held = None

    def _release(self, frames, everything: bool = False):
        if self.gate is None:
            return frames, None
        if self._held is not None and len(self._held):
            frames = type(frames).concat([self._held, frames]) if len(frames) else self._held
        self._held = None
        if not len(frames):
            return frames, np.zeros(0, bool)
        ready = np.ones(len(frames), bool) if everything else frames.times < self.gate.decided_until
        if not ready.all():
            self._held = frames.select(~ready)
            frames = frames.select(ready)
        return frames, self.gate.at(frames.times)

    def push(self, chunk: np.ndarray, t0: float | None, frames):
        if self.gate is not None:
            self.gate.push(chunk, t0=t0)
        return self._release(frames)

    def flush(self, frames):
        if self.gate is not None:
            self.gate.flush()
        return self._release(frames, everything=True)

    def reset(self) -> None:
        self._held = None
        if self.gate is not None:
            self.gate.reset()

    def reason(self, start: float | None = None, end: float | None = None) -> str | None:
        """The gate's reason for no speech in ``[start, end)`` (None: speech there, or no gate)."""
        return self.gate.mask.reason(start, end) if self.gate is not None else None


def silero_gate(options: SpeechGateOptions | None = None, history_s: float = 60.0) -> FrameGate:
    """A fresh Silero speech gate for one audio stream, holding acoustic frames until decided (the voice
    stage's gate: ``livemer.stages.VoiceOptions.gate``)."""
    return FrameGate(StreamingSpeechGate(options, SR, history_s=history_s))


__all__ = [
    "silero_gate",
    "SpeechGateOptions",
    "SpeechMask",
    "StreamingSpeechGate",
    "FrameGate",
    "SpeechGateError",
    "speech_mask",
    "speech_segments",
    "REASON_SILENCE",
    "REASON_NOT_SPEECH",
    "HOP_S",
]
