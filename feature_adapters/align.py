"""Word-level alignment of frame features into the model's windows (numpy only).

This mirrors the CMU Multimodal SDK word-level alignment with the ``avg``
collapse function: every word is one step, and each frame-rate modality is
averaged over the frames that fall inside the word's interval.

Conventions
-----------
* **Intervals are half-open**: a frame at time ``t`` belongs to a step
  ``[start, end)`` when ``start <= t < end``.
* **Frame validity**: only frames whose ``valid`` flag is set (voiced / energy
  gate for audio, face found for video) and whose times and features are finite
  are averaged.
* **Empty intervals** (very short words, or no valid frame inside): the nearest
  valid frame within ``tolerance`` seconds of the interval is used; failing
  that the modality is absent for that step (zero vector, mask False).
* **Words**: a word with a vector gives ``text`` = that vector and
  ``has_text=True``. An OOV word (``oov=True`` or no vector) keeps its step (its
  acoustic and visual frames still count) but has a zero text vector,
  ``has_text=False`` and ``oov=True``; ``Step.word`` keeps its string. A word
  whose ``end`` is before its ``start`` is clamped to zero length.
* **Pseudo-steps**: any stretch without words (before the first word from
  ``t_start``, between words, after the last word up to ``t_end``) that is at
  least ``pseudo_step`` seconds long is covered by ``floor(gap / pseudo_step)``
  steps of exactly ``pseudo_step`` seconds with no text (``word=None``). They
  are anchored at the *end* of the gap, so the latest pseudo-step always ends
  at ``t_end`` (face and voice keep updating while nobody speaks) and moving
  ``t_start`` back or forth never shifts them; the remainder (shorter than one
  pseudo-step) at the start of the gap is left uncovered, as are short pauses
  between words. A pseudo-step with no valid frame at all is still a step: it
  stands for time passing with nothing observed.
* **Causality**: steps built up to ``t_end`` only use words that have ended by
  ``t_end`` and frames strictly before ``t_end``. A word still being spoken is
  therefore covered by pseudo-steps until it commits, exactly as in live mode.
* **Windows** are the last ``n`` steps in time order, padded in front
  (``step_mask`` False, zero features, NaN starts/ends, ``None`` words).

File mode builds steps once with :func:`build_steps` and cuts windows with
:func:`windows_over`, or uses :func:`windows_at` to get, for every requested
time, exactly the window live capture would have produced at that time.
:class:`StreamingAligner` is the thread-safe live counterpart.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import LivemerError
from .windows import Step, Window

DEFAULT_WINDOW = 20  # steps per window, as in the paper's data
DEFAULT_PSEUDO_STEP = 0.5  # seconds
DEFAULT_TOLERANCE = 0.05  # seconds; nearest-frame fallback for empty intervals
DEFAULT_KEEP_SECONDS = 60.0  # streaming buffer length

_COUNT_EPS = 1e-6  # slack (in pseudo-step units) when counting pseudo-steps in a gap
_TIME_EPS = 1e-9  # seconds; slack on "ended by t_end" comparisons

__all__ = [
    "AlignmentError",
    "WordInput",
    "FrameSeries",
    "as_word",
    "as_series",
    "frame_means",
    "step_intervals",
    "build_steps",
    "make_window",
    "windows_over",
    "windows_at",
    "StreamingAligner",
    "DEFAULT_WINDOW",
    "DEFAULT_PSEUDO_STEP",
    "DEFAULT_TOLERANCE",
    "DEFAULT_KEEP_SECONDS",
]


class AlignmentError(LivemerError, ValueError):
    """Inputs to the aligner have the wrong shape or type; the message says what was expected."""


# --------------------------------------------------------------------------- inputs


@dataclass
class WordInput:
    """A timed word: ``vector`` is its (d_t,) embedding, None when it has none (then ``oov``)."""

    word: str
    start: float
    end: float
    vector: np.ndarray | None = None
    oov: bool = False

    def __post_init__(self) -> None:
        self.word = str(self.word)
        try:
            self.start = float(self.start)
            self.end = float(self.end)
        except (TypeError, ValueError):
            raise AlignmentError(
                f"word {self.word!r}: start/end must be seconds, got {self.start!r}..{self.end!r}"
            ) from None
        if not (np.isfinite(self.start) and np.isfinite(self.end)):
            raise AlignmentError(f"word {self.word!r}: start/end must be finite, got {self.start}..{self.end}")
        if self.end < self.start:
            self.end = self.start
        if self.vector is None:
            self.oov = True
        else:
            v = np.asarray(self.vector, dtype=np.float32)
            if v.ndim != 1:
                raise AlignmentError(f"word {self.word!r}: vector must be 1-D (d_t,), got shape {v.shape}")
            self.vector = v
        self.oov = bool(self.oov)


def as_word(x: Any) -> WordInput:
    """Coerce a :class:`WordInput`, a tuple ``(word, start, end[, vector[, oov]])`` or an
    object with ``word``/``start``/``end`` (and optional ``vector``/``oov``) attributes."""
    if isinstance(x, WordInput):
        return x
    if isinstance(x, (tuple, list)):
        if not 3 <= len(x) <= 5:
            raise AlignmentError(f"timed word {x!r}: expected (word, start, end[, vector[, oov]])")
        return WordInput(*x)
    if all(hasattr(x, a) for a in ("word", "start", "end")):
        return WordInput(x.word, x.start, x.end, getattr(x, "vector", None), bool(getattr(x, "oov", False)))
    raise AlignmentError(
        f"timed word {x!r}: expected a WordInput, a (word, start, end, vector, oov) tuple "
        "or an object with word/start/end attributes"
    )


@dataclass
class FrameSeries:
    """Frame-rate features of one modality: ``times`` (n,) seconds, ``features`` (n, d),
    ``valid`` (n,) bool (all True when omitted).

    On construction times are sorted (stable), rows with non-finite times are
    dropped and rows with non-finite features are marked invalid (and zeroed).
    """

    times: np.ndarray
    features: np.ndarray
    valid: np.ndarray | None = None
    name: str = "frames"

    def __post_init__(self) -> None:
        t = np.asarray(self.times, dtype=np.float64)
        f = np.asarray(self.features, dtype=np.float32)
        if t.ndim != 1:
            raise AlignmentError(f"{self.name}: times must be 1-D (n,), got shape {t.shape}")
        if f.ndim != 2:
            raise AlignmentError(f"{self.name}: features must be 2-D (n, d), got shape {f.shape}")
        if f.shape[0] != t.shape[0]:
            raise AlignmentError(f"{self.name}: {t.shape[0]} times but {f.shape[0]} feature rows")
        if self.valid is None:
            v = np.ones(t.shape[0], dtype=bool)
        else:
            v = np.asarray(self.valid)
            if v.shape != t.shape:
                raise AlignmentError(f"{self.name}: valid mask must have shape {t.shape}, got {v.shape}")
            v = v.astype(bool)
        finite_t = np.isfinite(t)
        if not finite_t.all():
            t, f, v = t[finite_t], f[finite_t], v[finite_t]
        finite_f = np.isfinite(f).all(axis=1)
        if not finite_f.all():
            f = f.copy()
            f[~finite_f] = 0.0
            v = v & finite_f
        if t.shape[0] > 1 and np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, f, v = t[order], f[order], v[order]
        self.times, self.features, self.valid = t, f, v

    @classmethod
    def empty(cls, dim: int, name: str = "frames") -> FrameSeries:
        """A series with no frames (the modality is absent everywhere)."""
        return cls(np.zeros(0), np.zeros((0, int(dim)), dtype=np.float32), None, name)

    @classmethod
    def _trusted(cls, times: np.ndarray, features: np.ndarray, valid: np.ndarray, name: str) -> FrameSeries:
        obj = object.__new__(cls)
        obj.times, obj.features, obj.valid, obj.name = times, features, valid, name
        return obj

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def means(
        self, intervals: np.ndarray, tolerance: float = DEFAULT_TOLERANCE, before: float = np.inf
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`frame_means` over this series (frames at or after ``before`` are ignored)."""
        iv = _check_intervals(intervals, self.name)
        return _series_means(self, iv, float(tolerance), float(before))


def as_series(x: Any, name: str, dim: int | None = None) -> FrameSeries:
    """Coerce a :class:`FrameSeries`, a ``(times, features[, valid])`` tuple or None
    (absent modality; needs ``dim``), checking the feature dimension against ``dim``."""
    if x is None:
        if dim is None:
            raise AlignmentError(f"{name}: no frames given and no feature dimension to make an empty series")
        return FrameSeries.empty(dim, name)
    if isinstance(x, FrameSeries):
        s = x
    elif isinstance(x, (tuple, list)) and len(x) in (2, 3):
        s = FrameSeries(*x, name=name) if len(x) == 3 else FrameSeries(x[0], x[1], None, name)
    else:
        raise AlignmentError(f"{name}: expected a FrameSeries or (times, features[, valid]), got {type(x).__name__}")
    if dim is not None and s.dim != dim:
        raise AlignmentError(f"{name}: frames have {s.dim} features each, expected {dim}")
    return s


# --------------------------------------------------------------------------- frame means


def _check_intervals(intervals: Any, name: str = "intervals") -> np.ndarray:
    iv = np.asarray(intervals, dtype=np.float64)
    if iv.size == 0:
        return iv.reshape(0, 2)
    if iv.ndim != 2 or iv.shape[1] != 2:
        raise AlignmentError(f"{name}: intervals must have shape (k, 2) [start, end), got {iv.shape}")
    if not np.isfinite(iv).all():
        raise AlignmentError(f"{name}: intervals must be finite")
    if np.any(iv[:, 1] < iv[:, 0]):
        raise AlignmentError(f"{name}: every interval needs end >= start")
    return iv


def _series_means(
    s: FrameSeries, iv: np.ndarray, tol: float, before: float, dynamics: Sequence[int] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Means of valid frames of ``s`` in each ``[start, end)`` of ``iv`` (times < ``before``), then, for the
    ``dynamics`` columns, their standard deviation and mean absolute change between consecutive valid frames
    (0 for a step of one frame or one filled from a nearby frame)."""
    k, d = iv.shape[0], s.dim
    dyn = np.asarray(dynamics, dtype=np.intp).reshape(-1)
    means = np.zeros((k, d + 2 * dyn.shape[0]), dtype=np.float32)
    present = np.zeros(k, dtype=bool)
    if k == 0 or len(s) == 0:
        return means, present
    starts, ends = iv[:, 0], iv[:, 1]
    tol = max(tol, 0.0)
    # only the frames that any interval (plus tolerance) can reach
    lo = int(np.searchsorted(s.times, starts.min() - tol, "left"))
    hi = int(np.searchsorted(s.times, min(ends.max() + tol, before), "right"))
    if before != np.inf:
        hi = min(hi, int(np.searchsorted(s.times, before, "left")))
    if hi <= lo:
        return means, present
    v = s.valid[lo:hi]
    t = s.times[lo:hi][v]
    f = s.features[lo:hi][v]
    n = t.shape[0]
    if n == 0:
        return means, present
    a = np.searchsorted(t, starts, "left")
    b = np.searchsorted(t, ends, "left")
    cnt = b - a
    full = cnt > 0
    if full.any():
        # np.add.reduceat over interleaved [a_i, b_i) bounds: exact in-order sums per interval;
        # a zero row is appended so every b_i (<= n) is a legal index.
        f64 = np.empty((n + 1, d), dtype=np.float64)
        f64[:n] = f
        f64[n] = 0.0
        idx = np.empty(2 * int(full.sum()), dtype=np.intp)
        idx[0::2] = a[full]
        idx[1::2] = b[full]
        sums = np.add.reduceat(f64, idx, axis=0)[0::2]
        means[full, :d] = sums / cnt[full, None]
        present[full] = True
        if dyn.shape[0]:
            means[:, d:] = _step_dynamics(f64[:, dyn], idx, a, b, full, sums[:, dyn] / cnt[full, None])
    empty = ~full
    if empty.any():
        ae, se, ee = a[empty], starts[empty], ends[empty]
        prev, nxt = ae - 1, ae  # t[prev] < start and t[nxt] >= end, when they exist
        d_prev = np.where(prev >= 0, se - t[np.clip(prev, 0, n - 1)], np.inf)
        d_next = np.where(nxt < n, t[np.clip(nxt, 0, n - 1)] - ee, np.inf)
        pick = np.where(d_prev <= d_next, prev, nxt)
        ok = np.minimum(d_prev, d_next) <= tol + _TIME_EPS
        rows = np.flatnonzero(empty)[ok]
        means[rows, :d] = f[pick[ok]]
        present[rows] = True
    return means, present


def _step_dynamics(
    x: np.ndarray, idx: np.ndarray, a: np.ndarray, b: np.ndarray, full: np.ndarray, mean: np.ndarray
) -> np.ndarray:
    """(k, 2 c): per interval ``[a_i, b_i)`` of the rows of ``x`` ((n + 1, c) float64, a zero row last), the
    standard deviation and the mean |x_j - x_{j-1}| inside it; 0 where ``full`` is False or one row. ``idx``
    is the caller's interleaved ``a[full], b[full]`` bounds (its reduceat of the means)."""
    k, c = a.shape[0], x.shape[1]
    out = np.zeros((k, 2 * c), dtype=np.float64)
    n = x.shape[0] - 1
    sq = np.add.reduceat(x * x, idx, axis=0)[0::2]
    cnt = (b - a)[full, None]
    out[full, :c] = np.sqrt(np.maximum(sq / cnt - mean * mean, 0.0))
    many = full & (b - a > 1)
    if many.any():
        step = np.zeros((n + 1, c), dtype=np.float64)  # step[j] = |x_j - x_{j-1}| (j >= 1), a zero row last
        step[1:n] = np.abs(np.diff(x[:n], axis=0))
        jdx = np.empty(2 * int(many.sum()), dtype=np.intp)
        jdx[0::2], jdx[1::2] = a[many] + 1, b[many]
        out[many, c:] = np.add.reduceat(step, jdx, axis=0)[0::2] / ((b - a)[many, None] - 1)
    return out.astype(np.float32)


def frame_means(
    times: Any, feats: Any, valid: Any, intervals: Any, tolerance: float = DEFAULT_TOLERANCE
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the valid frames whose time lies in each half-open interval.

    ``times`` (n,), ``feats`` (n, d), ``valid`` (n,) bool or None, ``intervals``
    (k, 2) of ``[start, end)``. Returns ``means`` (k, d) float32 and ``present``
    (k,) bool. An interval with no valid frame inside takes the nearest valid
    frame within ``tolerance`` seconds of it (the earlier one on a tie; distance
    0 counts, so a zero-length interval on a frame uses it even with tolerance
    0); else its row is zero and ``present`` False. Sums are exact in-order
    float64 sums (``np.add.reduceat``); cost O(n + k log n).
    """
    s = FrameSeries(times, feats, valid, name="frames")
    return _series_means(s, _check_intervals(intervals), float(tolerance), np.inf)


# --------------------------------------------------------------------------- steps


class _Words:
    """Timed words as sorted arrays (built once, reused across windows)."""

    def __init__(self, words: Iterable[Any], text_dim: int | None) -> None:
        items = [as_word(w) for w in words]
        items.sort(key=lambda w: (w.start, w.end))  # stable: identical intervals keep their order
        if text_dim is None:
            text_dim = next((w.vector.shape[0] for w in items if w.vector is not None and not w.oov), None)
        if text_dim is None:
            raise AlignmentError("text_dim is needed: no word has a vector to infer it from")
        self.text_dim = int(text_dim)
        k = len(items)
        self.items = items
        self.starts = np.fromiter((w.start for w in items), dtype=np.float64, count=k)
        self.ends = np.fromiter((w.end for w in items), dtype=np.float64, count=k)
        self.texts = np.zeros((k, self.text_dim), dtype=np.float32)
        self.has_text = np.zeros(k, dtype=bool)
        self.oov = np.zeros(k, dtype=bool)
        for i, w in enumerate(items):
            self.oov[i] = w.oov
            if w.oov:
                continue
            if w.vector.shape[0] != self.text_dim:
                raise AlignmentError(
                    f"word {w.word!r} at {w.start:.2f}s: vector has {w.vector.shape[0]} dims, expected {self.text_dim}"
                )
            self.texts[i] = w.vector
            self.has_text[i] = True

    def __len__(self) -> int:
        return len(self.items)


def step_intervals(
    word_starts: Any, word_ends: Any, t_start: float, t_end: float, pseudo_step: float | None = DEFAULT_PSEUDO_STEP
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plan the steps between ``t_start`` and ``t_end``.

    ``word_starts``/``word_ends`` are sorted by (start, end). Words that have not ended
    by ``t_end`` or ended before ``t_start`` are left out. Returns ``starts``,
    ``ends`` (m,) and ``word_index`` (m,) (index into the given words, -1 for a
    pseudo-step), in time order.
    """
    ws = np.asarray(word_starts, dtype=np.float64).reshape(-1)
    we = np.asarray(word_ends, dtype=np.float64).reshape(-1)
    t_start, t_end = float(t_start), float(t_end)
    keep = np.flatnonzero((we >= t_start) & (we <= t_end + _TIME_EPS))
    ws, we = ws[keep], we[keep]
    w = ws.shape[0]
    gap_start = np.maximum.accumulate(np.concatenate([[t_start], we]))  # (w+1,)
    gap_end = np.concatenate([ws, [t_end]])
    if pseudo_step is None:
        k = np.zeros(w + 1, dtype=np.intp)
    else:
        p = float(pseudo_step)
        if not p > 0:
            raise AlignmentError(f"pseudo_step must be > 0 seconds (or None to disable), got {pseudo_step}")
        k = np.floor(np.maximum(gap_end - gap_start, 0.0) / p + _COUNT_EPS).astype(np.intp)
    blocks = k.copy()
    blocks[:w] += 1
    offsets = np.concatenate([[0], np.cumsum(blocks)[:-1]]).astype(np.intp)
    m = int(blocks.sum())
    starts = np.empty(m, dtype=np.float64)
    ends = np.empty(m, dtype=np.float64)
    widx = np.full(m, -1, dtype=np.intp)
    pos = offsets[:w] + k[:w]
    starts[pos], ends[pos], widx[pos] = ws, we, keep
    total = int(k.sum())
    if total:
        g = np.repeat(np.arange(w + 1), k)
        j = np.arange(total) - np.repeat(np.cumsum(k) - k, k)
        ppos = offsets[g] + j
        pend = gap_end[g] - (k[g] - 1 - j) * p
        starts[ppos], ends[ppos] = pend - p, pend
    return starts, ends, widx


def _build(
    words: _Words,
    acoustic: FrameSeries,
    visual: FrameSeries,
    t_start: float,
    t_end: float,
    pseudo_step: float | None,
    tolerance: float,
    max_steps: int | None,
    acoustic_dynamics: Sequence[int] = (),
) -> list[Step]:
    starts, ends, widx = step_intervals(words.starts, words.ends, t_start, t_end, pseudo_step)
    if max_steps is not None:
        first = max(starts.shape[0] - max(int(max_steps), 0), 0)
        starts, ends, widx = starts[first:], ends[first:], widx[first:]
    m = starts.shape[0]
    iv = np.stack([starts, ends], axis=1) if m else np.zeros((0, 2))
    a_mean, a_ok = _series_means(acoustic, iv, tolerance, t_end, acoustic_dynamics)
    v_mean, v_ok = _series_means(visual, iv, tolerance, t_end)
    is_word = widx >= 0
    texts = np.zeros((m, words.text_dim), dtype=np.float32)
    texts[is_word] = words.texts[widx[is_word]]
    has_text = np.zeros(m, dtype=bool)
    has_text[is_word] = words.has_text[widx[is_word]]
    out = []
    for i in range(m):
        wi = int(widx[i])
        out.append(
            Step(
                start=float(starts[i]),
                end=float(ends[i]),
                word=words.items[wi].word if wi >= 0 else None,
                text=texts[i],
                acoustic=a_mean[i],
                visual=v_mean[i],
                has_text=bool(has_text[i]),
                has_acoustic=bool(a_ok[i]),
                has_visual=bool(v_ok[i]),
                oov=bool(words.oov[wi]) if wi >= 0 else False,
            )
        )
    return out


def build_steps(
    words: Iterable[Any],
    acoustic: Any,
    visual: Any,
    t_start: float,
    t_end: float,
    *,
    pseudo_step: float | None = DEFAULT_PSEUDO_STEP,
    tolerance: float = DEFAULT_TOLERANCE,
    text_dim: int | None = None,
    acoustic_dim: int | None = None,
    visual_dim: int | None = None,
    max_steps: int | None = None,
    acoustic_dynamics: Sequence[int] = (),
) -> list[Step]:
    """Word-aligned steps (plus silence pseudo-steps) from ``t_start`` to ``t_end``, in time order.

    ``words``: timed words (see :func:`as_word`). ``acoustic``/``visual``: a
    :class:`FrameSeries`, ``(times, features[, valid])`` or None (absent; then the
    matching ``*_dim`` is required). ``text_dim`` is inferred from the first word
    vector when omitted. ``pseudo_step=None`` disables pseudo-steps.
    ``max_steps`` builds only the last that many steps (cheap for live windows).
    ``acoustic_dynamics``: acoustic frame columns whose within-step standard deviation and mean absolute
    change are appended to each step's acoustic means (a step space such as
    :data:`feature_adapters.covarep.COVAREP74_DYNAMICS`; ``acoustic_dim`` stays the frames' width).
    """
    if not (np.isfinite(t_start) and np.isfinite(t_end)):
        raise AlignmentError(f"t_start/t_end must be finite seconds, got {t_start}..{t_end}")
    table = _Words(words, text_dim)
    a = as_series(acoustic, "acoustic", acoustic_dim)
    v = as_series(visual, "visual", visual_dim)
    dyn = _check_dynamics(acoustic_dynamics, a.dim)
    return _build(table, a, v, float(t_start), float(t_end), pseudo_step, float(tolerance), max_steps, dyn)


# --------------------------------------------------------------------------- windows


def _sorted_steps(steps: Sequence[Step]) -> list[Step]:
    steps = list(steps)
    if any(steps[i + 1].start < steps[i].start for i in range(len(steps) - 1)):
        steps.sort(key=lambda s: s.start)
    return steps


def _stack(steps: Sequence[Step], dims: tuple[int, int, int] | None) -> dict[str, Any]:
    """All steps as arrays (features zeroed where their mask is off)."""
    if dims is None:
        if not steps:
            raise AlignmentError("dims=(d_t, d_a, d_v) is needed to make a window from no steps")
        s0 = steps[0]
        dims = (int(np.shape(s0.text)[0]), int(np.shape(s0.acoustic)[0]), int(np.shape(s0.visual)[0]))
    d_t, d_a, d_v = (int(x) for x in dims)
    m = len(steps)
    out: dict[str, Any] = {"dims": (d_t, d_a, d_v)}
    for key, d in (("text", d_t), ("acoustic", d_a), ("visual", d_v)):
        arr = np.zeros((m, d), dtype=np.float32)
        for i, s in enumerate(steps):
            vec = np.asarray(getattr(s, key))
            if vec.shape != (d,):
                raise AlignmentError(
                    f"step {i} ({s.word!r} at {s.start:.2f}s): {key} vector has shape {vec.shape}, expected ({d},)"
                )
            arr[i] = vec
        out[key] = arr
    out["starts"] = np.fromiter((s.start for s in steps), dtype=np.float64, count=m)
    out["ends"] = np.fromiter((s.end for s in steps), dtype=np.float64, count=m)
    for key in ("text", "acoustic", "visual"):
        mask = np.fromiter((bool(getattr(s, f"has_{key}")) for s in steps), dtype=bool, count=m)
        out[key][~mask] = 0.0
        out[f"{key}_mask"] = mask
    out["words"] = [s.word for s in steps]
    return out


def _window_from(st: dict[str, Any], lo: int, hi: int, n: int) -> Window:
    m = hi - lo
    if m > n:
        lo, m = hi - n, n
    pad = n - m
    d_t, d_a, d_v = st["dims"]

    def feat(key: str, d: int) -> np.ndarray:
        a = np.zeros((n, d), dtype=np.float32)
        a[pad:] = st[key][lo:hi]
        return a

    def mask(key: str) -> np.ndarray:
        a = np.zeros(n, dtype=bool)
        a[pad:] = st[key][lo:hi]
        return a

    def times(key: str) -> np.ndarray:
        a = np.full(n, np.nan, dtype=np.float64)
        a[pad:] = st[key][lo:hi]
        return a

    step_mask = np.zeros(n, dtype=bool)
    step_mask[pad:] = True
    return Window(
        text=feat("text", d_t),
        acoustic=feat("acoustic", d_a),
        visual=feat("visual", d_v),
        starts=times("starts"),
        ends=times("ends"),
        step_mask=step_mask,
        text_mask=mask("text_mask"),
        acoustic_mask=mask("acoustic_mask"),
        visual_mask=mask("visual_mask"),
        words=[None] * pad + list(st["words"][lo:hi]),
    )


def _check_dynamics(dynamics: Sequence[int], dim: int) -> tuple[int, ...]:
    dyn = tuple(int(c) for c in dynamics)
    bad = [c for c in dyn if not 0 <= c < dim]
    if bad:
        raise AlignmentError(f"acoustic dynamics column {bad[0]} is outside the frames' {dim} columns")
    return dyn


def _check_n(n: int) -> int:
    n = int(n)
    if n < 1:
        raise AlignmentError(f"window length n must be >= 1, got {n}")
    return n


def make_window(steps: Sequence[Step], n: int = DEFAULT_WINDOW, dims: tuple[int, int, int] | None = None) -> Window:
    """The last ``n`` steps (in time order) as a :class:`Window`, zero-padded in front.

    ``dims=(d_t, d_a, d_v)`` is inferred from the steps; it is required when
    there are none (the window is then all padding).
    """
    n = _check_n(n)
    steps = _sorted_steps(steps)[-n:]
    st = _stack(steps, dims)
    return _window_from(st, 0, len(steps), n)


def windows_over(
    steps: Sequence[Step],
    n: int = DEFAULT_WINDOW,
    *,
    times: Any = None,
    hop: float | None = None,
    dims: tuple[int, int, int] | None = None,
) -> list[Window]:
    """Windows over precomputed steps (file mode).

    With neither ``times`` nor ``hop``: one window ending at each step. With
    ``times``: one window per time ``t`` of the last ``n`` steps that ended by
    ``t``. With ``hop``: times ``first_start + hop, first_start + 2*hop, ...`` up
    to the last step end. Pseudo-steps here are the ones planned for the whole
    file; use :func:`windows_at` for windows identical to live ones.
    """
    n = _check_n(n)
    steps = _sorted_steps(steps)
    st = _stack(steps, dims)
    m = len(steps)
    if times is None and hop is None:
        return [_window_from(st, max(0, i + 1 - n), i + 1, n) for i in range(m)]
    if times is None:
        if not hop > 0:
            raise AlignmentError(f"hop must be > 0 seconds, got {hop}")
        if m == 0:
            return []
        t0, t1 = float(st["starts"][0]), float(st["ends"].max())
        times = t0 + hop * np.arange(1, int(np.floor((t1 - t0) / hop + _COUNT_EPS)) + 1)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    ends = st["ends"]
    out = []
    if m == 0 or np.all(np.diff(ends) >= 0):
        cut = np.searchsorted(ends, times + _TIME_EPS, "right")
        for c in cut:
            out.append(_window_from(st, max(0, int(c) - n), int(c), n))
        return out
    for t in times:  # overlapping words: ended-by-t steps need not be a prefix
        idx = np.flatnonzero(ends <= t + _TIME_EPS)[-n:]
        sub = {k: (v[idx] if isinstance(v, np.ndarray) else v) for k, v in st.items() if k not in ("words", "dims")}
        sub["words"] = [st["words"][i] for i in idx]
        sub["dims"] = st["dims"]
        out.append(_window_from(sub, 0, len(idx), n))
    return out


def windows_at(
    words: Iterable[Any],
    acoustic: Any,
    visual: Any,
    times: Any,
    *,
    t_start: float,
    n: int = DEFAULT_WINDOW,
    pseudo_step: float | None = DEFAULT_PSEUDO_STEP,
    tolerance: float = DEFAULT_TOLERANCE,
    text_dim: int | None = None,
    acoustic_dim: int | None = None,
    visual_dim: int | None = None,
    acoustic_dynamics: Sequence[int] = (),
) -> list[Window]:
    """For each time ``t`` in ``times``: the window live capture would give at ``t``,
    i.e. ``make_window(build_steps(..., t_start, t, max_steps=n), n)``."""
    n = _check_n(n)
    table = _Words(words, text_dim)
    a = as_series(acoustic, "acoustic", acoustic_dim)
    v = as_series(visual, "visual", visual_dim)
    dyn = _check_dynamics(acoustic_dynamics, a.dim)
    dims = (table.text_dim, a.dim + 2 * len(dyn), v.dim)
    out = []
    for t in np.asarray(times, dtype=np.float64).reshape(-1):
        steps = _build(table, a, v, float(t_start), float(t), pseudo_step, float(tolerance), n, dyn)
        out.append(_window_from(_stack(steps, dims), 0, len(steps), n))
    return out


# --------------------------------------------------------------------------- streaming


class _FrameBuffer:
    """Append-only, trimmable, time-sorted frame store with amortised O(1) appends."""

    def __init__(self, dim: int, name: str, capacity: int = 1024) -> None:
        self.dim, self.name = int(dim), name
        self.times = np.zeros(capacity, dtype=np.float64)
        self.feats = np.zeros((capacity, self.dim), dtype=np.float32)
        self.valid = np.zeros(capacity, dtype=bool)
        self.lo = self.hi = 0

    def __len__(self) -> int:
        return self.hi - self.lo

    def append(self, s: FrameSeries) -> None:
        k = len(s)
        if k == 0:
            return
        if self.hi + k > self.times.shape[0]:
            live = self.hi - self.lo
            cap = max(self.times.shape[0], 2 * (live + k))
            if cap > self.times.shape[0]:
                times, feats, valid = np.zeros(cap), np.zeros((cap, self.dim), np.float32), np.zeros(cap, bool)
            else:
                times, feats, valid = self.times, self.feats, self.valid
            times[:live] = self.times[self.lo : self.hi]
            feats[:live] = self.feats[self.lo : self.hi]
            valid[:live] = self.valid[self.lo : self.hi]
            self.times, self.feats, self.valid = times, feats, valid
            self.lo, self.hi = 0, live
        out_of_order = self.hi > self.lo and s.times[0] < self.times[self.hi - 1]
        self.times[self.hi : self.hi + k] = s.times
        self.feats[self.hi : self.hi + k] = s.features
        self.valid[self.hi : self.hi + k] = s.valid
        self.hi += k
        if out_of_order:
            sl = slice(self.lo, self.hi)
            order = np.argsort(self.times[sl], kind="stable")
            self.times[sl] = self.times[sl][order]
            self.feats[sl] = self.feats[sl][order]
            self.valid[sl] = self.valid[sl][order]

    def trim(self, before: float) -> None:
        self.lo += int(np.searchsorted(self.times[self.lo : self.hi], before, "left"))

    def series(self) -> FrameSeries:
        sl = slice(self.lo, self.hi)
        return FrameSeries._trusted(self.times[sl], self.feats[sl], self.valid[sl], self.name)

    def first_time(self) -> float:
        return float(self.times[self.lo]) if self.hi > self.lo else np.inf

    def last_time(self) -> float:
        return float(self.times[self.hi - 1]) if self.hi > self.lo else -np.inf


class StreamingAligner:
    """Live word alignment: bounded rolling buffers that capture workers fill and inference reads.

    Thread-safe: every method holds one lock. Data older than ``keep_seconds``
    before the latest time seen (frames, word ends, ``window`` times) is dropped;
    ``keep_seconds`` must exceed the span of ``n`` steps (60 s is ample for 20
    steps of speech). ``window(t)`` equals
    ``windows_at(all words, all frames, [t], t_start=origin)`` while the last
    ``n`` steps lie inside the buffer. ``origin`` (where leading pseudo-steps may
    start) is ``t0`` or else the earliest time ever added.
    """

    def __init__(
        self,
        text_dim: int,
        acoustic_dim: int,
        visual_dim: int,
        *,
        n: int = DEFAULT_WINDOW,
        pseudo_step: float | None = DEFAULT_PSEUDO_STEP,
        tolerance: float = DEFAULT_TOLERANCE,
        keep_seconds: float = DEFAULT_KEEP_SECONDS,
        t0: float | None = None,
        acoustic_dynamics: Sequence[int] = (),
    ) -> None:
        if pseudo_step is not None and not pseudo_step > 0:
            raise AlignmentError(f"pseudo_step must be > 0 seconds (or None), got {pseudo_step}")
        if not keep_seconds > 0:
            raise AlignmentError(f"keep_seconds must be > 0, got {keep_seconds}")
        self.acoustic_dynamics = _check_dynamics(acoustic_dynamics, int(acoustic_dim))
        self.frame_dims = (int(text_dim), int(acoustic_dim), int(visual_dim))
        # the steps' widths: the acoustic means plus, for each dynamics column, its std and mean |change|
        self.dims = (int(text_dim), int(acoustic_dim) + 2 * len(self.acoustic_dynamics), int(visual_dim))
        self.n = _check_n(n)
        self.pseudo_step = pseudo_step
        self.tolerance = float(tolerance)
        self.keep_seconds = float(keep_seconds)
        self._t0 = None if t0 is None else float(t0)
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget all buffered data (the explicit ``t0``, if any, is kept)."""
        with getattr(self, "_lock", threading.Lock()):
            self._acoustic = _FrameBuffer(self.frame_dims[1], "acoustic")
            self._visual = _FrameBuffer(self.dims[2], "visual")
            self._words: list[WordInput] = []
            self._word_keys: list[tuple[float, float]] = []
            self._table: _Words | None = None
            self._first = np.inf
            self._latest = -np.inf

    # -- adding ---------------------------------------------------------------

    def _see(self, lo: float, hi: float) -> None:
        self._first = min(self._first, lo)
        self._latest = max(self._latest, hi)
        self._trim()

    def _trim(self) -> None:
        horizon = self._latest - self.keep_seconds
        self._acoustic.trim(horizon - self.tolerance)
        self._visual.trim(horizon - self.tolerance)
        if self._words and self._words[0].end < horizon:
            keep = [i for i, w in enumerate(self._words) if w.end >= horizon]
            self._words = [self._words[i] for i in keep]
            self._word_keys = [self._word_keys[i] for i in keep]
            self._table = None

    def _add_frames(self, buf: _FrameBuffer, times: Any, feats: Any, valid: Any) -> None:
        s = as_series(FrameSeries(times, feats, valid, buf.name), buf.name, buf.dim)
        if len(s) == 0:
            return
        with self._lock:
            buf.append(s)
            self._see(float(s.times[0]), float(s.times[-1]))

    def add_acoustic(self, times: Any, feats: Any, valid: Any = None) -> None:
        """Add acoustic frames: ``times`` (k,), ``feats`` (k, d_a), ``valid`` (k,) or None."""
        self._add_frames(self._acoustic, times, feats, valid)

    def add_visual(self, times: Any, feats: Any, valid: Any = None) -> None:
        """Add visual frames: ``times`` (k,), ``feats`` (k, d_v), ``valid`` (k,) (face found) or None."""
        self._add_frames(self._visual, times, feats, valid)

    def add_words(self, words: Iterable[Any]) -> None:
        """Commit timed words (any order; see :func:`as_word`)."""
        items = [as_word(w) for w in words]
        for w in items:
            if not w.oov and w.vector.shape[0] != self.dims[0]:
                raise AlignmentError(
                    f"word {w.word!r} at {w.start:.2f}s: vector has {w.vector.shape[0]} dims, expected {self.dims[0]}"
                )
        if not items:
            return
        with self._lock:
            for w in items:
                i = bisect.bisect_right(self._word_keys, (w.start, w.end))
                self._word_keys.insert(i, (w.start, w.end))
                self._words.insert(i, w)
            self._table = None
            self._see(min(w.start for w in items), max(w.end for w in items))

    # -- reading --------------------------------------------------------------

    @property
    def origin(self) -> float:
        """Earliest time pseudo-steps may cover (``t0``, else the first time added; NaN before any data)."""
        with self._lock:
            return self._origin()

    def _origin(self) -> float:
        if self._t0 is not None:
            return self._t0
        return self._first if np.isfinite(self._first) else np.nan

    @property
    def latest(self) -> float:
        """Latest time seen (NaN before any data)."""
        with self._lock:
            return self._latest if np.isfinite(self._latest) else np.nan

    def buffered(self) -> dict[str, int]:
        """How many acoustic frames, visual frames and words are buffered."""
        with self._lock:
            return {"acoustic": len(self._acoustic), "visual": len(self._visual), "words": len(self._words)}

    def steps(self, t_now: float | None = None) -> list[Step]:
        """The last ``n`` steps ending at ``t_now`` (default: the latest time seen)."""
        with self._lock:
            return self._steps(t_now)

    def _steps(self, t_now: float | None) -> list[Step]:
        if t_now is None:
            t_now = self._latest
        t_now = float(t_now)
        origin = self._origin()
        if not np.isfinite(t_now) or np.isnan(origin):
            return []
        self._latest = max(self._latest, t_now)
        self._trim()
        t_start = min(max(origin, self._latest - self.keep_seconds), t_now)
        if self._table is None:
            self._table = _Words(self._words, self.dims[0])
        return _build(
            self._table,
            self._acoustic.series(),
            self._visual.series(),
            t_start,
            t_now,
            self.pseudo_step,
            self.tolerance,
            self.n,
            self.acoustic_dynamics,
        )

    def window(self, t_now: float | None = None) -> Window:
        """The model's window ending at ``t_now`` (default: the latest time seen)."""
        with self._lock:
            steps = self._steps(t_now)
            return _window_from(_stack(steps, self.dims), 0, len(steps), self.n)
