"""Teaching an emotion from examples: clips -> windows -> a few-shot adapter stored with the emotion.

``livemer add-emotion WORD --examples PATH...`` runs every example through the
file-mode pipeline (:class:`ExampleReader`, the one place that calls the
offline analysis), keeps the windows inside each clip's span as positives,
takes negatives from the checkpoint's replay set of its trained emotions, the
windows of the user's other taught emotions, ``--negatives`` clips and the
example clips outside their spans, and fits :func:`model.adapt.fit_adapter`.
The adapter (a few hundred numbers) is stored in the user's registry entry; the
example windows are kept beside it (``adapters/NAME.npz``) so that later taught
emotions can use them as negatives. Nothing is written unless the fit succeeds.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LivemerError

ADAPTER_VERSION = 2  # 2: with a score offset (the fit's intercept) and one l2 per modality
MIN_CONTEXT = 1.0  # seconds of a clip (or span) a window must cover before it counts as an example
FEW_CLIPS = 3  # fewer usable clips than this: a warning
WINDOW_KEYS = ("text", "acoustic", "visual", "text_mask", "acoustic_mask", "visual_mask", "modality_mask")


# ----------------------------------------------------------------------------- spans


def parse_span(text: str) -> tuple[float, float]:
    """'1.5-4' (seconds) -> (1.5, 4.0); LivemerError unless 0 <= start < end."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*", text or "")
    if not m:
        raise LivemerError(f"--span '{text}': use START-END in seconds, e.g. 1.5-4")
    a, b = float(m.group(1)), float(m.group(2))
    if not b > a:
        raise LivemerError(f"--span '{text}': the end must come after the start")
    return a, b


def spans_for(paths: Sequence, spans: Sequence[str] | None) -> list[tuple[float, float] | None]:
    """One span (or None: the whole clip) per PATH: none given, one for all, or one per PATH in order."""
    spans = list(spans or [])
    if not spans:
        return [None] * len(paths)
    parsed = [parse_span(s) for s in spans]
    if len(parsed) == 1:
        return parsed * len(paths)
    if len(parsed) != len(paths):
        raise LivemerError(f"{len(parsed)} --span values for {len(paths)} example paths: give one, or one per path")
    return parsed


def in_span(
    ends: np.ndarray, span: tuple[float, float] | None, duration: float, min_context: float = MIN_CONTEXT
) -> np.ndarray:
    """Windows (by end time) that show the example: inside the span, at least ``min_context`` s into it
    (or the span's last window when it is shorter)."""
    ends = np.asarray(ends, np.float64)
    a, b = span if span is not None else (0.0, float(duration))
    b = min(b, float(duration)) if duration > 0 else b
    first = a + min(min_context, max(0.0, b - a))
    return (ends >= first - 1e-9) & (ends <= b + 1e-9)


# ----------------------------------------------------------------------------- the offline analysis


class ExampleReader:
    """(windows, window end times, duration, notes) of files through the file-mode pipeline.

    The single adapter between teaching and the offline analysis: one
    :class:`~livemer.offline.FileDriver` (its stages load once) for every file.
    """

    def __init__(self, engine):
        self.engine = engine
        self._driver = None

    def __call__(self, path: str | Path, progress: Callable[[float], None] | None = None):
        from .offline import FileDriver

        if self._driver is None:
            self._driver = FileDriver(self.engine)
        res = self._driver.analyse(path, progress, keep_windows=True)
        notes = list(res.notices)
        if "acoustic" in res.masked and "visual" in res.masked:
            notes.append("no face and no voice found")
        return list(res.windows or []), np.asarray(res.times), float(res.duration), notes

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None


# ----------------------------------------------------------------------------- example sets


@dataclass
class WindowSet:
    """Windows of several clips, with the clip each came from."""

    windows: list = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    clips: int = 0
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.windows)


def _usable(w) -> bool:
    m = np.asarray(w.modality_mask, bool)
    return bool(m[1] or m[2])  # acoustic or visual: what the adapter learns from


def collect(
    reader: Callable,
    paths: Sequence[str | Path],
    spans: Sequence[str] | None,
    *,
    progress: Callable[[float], None] | None = None,
    outside: WindowSet | None = None,
) -> WindowSet:
    """Windows of every clip in ``paths`` (folders expanded) inside its span, read by ``reader``
    (an :class:`ExampleReader`); ``outside`` (when given) receives the windows of spanned clips outside
    their span. A bad clip is a warning, not an error."""
    from .errors import first_line
    from .media import expand_inputs

    given = spans_for(paths, spans)
    files: list[tuple[Path, tuple[float, float] | None]] = []
    for raw, span in zip(paths, given):
        if not Path(raw).exists():
            raise LivemerError(f"{raw}: no such file or folder")
        files += [(f, span) for f in expand_inputs([raw])]
    out = WindowSet()
    for f, span in files:
        try:
            wins, ends, dur, notes = reader(f, progress)
        except LivemerError as exc:
            msg = first_line(exc)
            out.warnings.append(msg if str(f) in msg else f"{f}: {msg}")
            continue
        if span is not None and span[0] >= dur:
            out.warnings.append(f"{f}: --span starts at {span[0]:g} s but the clip lasts {dur:.1f} s; skipped")
            continue
        sel = in_span(ends, span, dur)
        keep = [w for w, s in zip(wins, sel) if s and _usable(w)]
        if outside is not None and span is not None:
            rest = [w for w, s in zip(wins, sel) if not s and _usable(w) and w.span[1] - w.span[0] >= MIN_CONTEXT]
            outside.windows += rest
            outside.groups += [f"{f}#outside"] * len(rest)
            outside.clips += bool(rest)
        if not keep:
            why = "; ".join(notes) or "no window with face or voice features"
            out.warnings.append(f"{f}: no usable example window ({why}); skipped")
            continue
        out.windows += keep
        out.groups += [str(f)] * len(keep)
        out.clips += 1
    return out


def total_seconds(paths: Sequence[str | Path]) -> float:
    """Media seconds of the files in ``paths`` (for the progress bar; unreadable files count 0)."""
    from .media import MediaError, expand_inputs, probe

    total = 0.0
    for raw in paths:
        try:
            for f in expand_inputs([raw]):
                try:
                    total += float(probe(f).duration or 0.0)
                except MediaError:
                    pass
        except MediaError:
            pass
    return total


# ----------------------------------------------------------------------------- stored windows


def adapters_dir(registry) -> Path:
    return Path(registry.path).parent / "adapters"


def windows_path(registry, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return adapters_dir(registry) / f"{safe}.npz"


def windows_arrays(windows: Sequence) -> dict[str, np.ndarray]:
    from model.inference import batch_windows

    b = batch_windows(list(windows))
    out = {
        "text": b.text.astype(np.float16),
        "acoustic": b.acoustic.astype(np.float16),
        "visual": b.visual.astype(np.float16),
        "modality_mask": b.modality_mask,
    }
    out.update({f"{m}_mask": v for m, v in b.step_masks.items()})
    return out


def batch_from_arrays(a) -> object:
    from model.inference import WindowBatch

    return WindowBatch(
        np.asarray(a["text"], np.float32),
        np.asarray(a["acoustic"], np.float32),
        np.asarray(a["visual"], np.float32),
        {m: np.asarray(a[f"{m}_mask"], bool) for m in ("text", "acoustic", "visual")},
        np.asarray(a["modality_mask"], bool),
    )


def save_windows_atomic(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def stored_windows(registry, exclude: str) -> list[tuple[str, object]]:
    """(name, WindowBatch) of the user's other taught emotions (unreadable files are skipped)."""
    out = []
    for e in registry.list():
        if e.name == exclude or not e.adaptation:
            continue
        p = windows_path(registry, e.name)
        try:
            with np.load(p) as a:
                if all(k in a for k in WINDOW_KEYS):
                    out.append((e.name, batch_from_arrays(a)))
        except (OSError, ValueError):
            continue
    return out


# ----------------------------------------------------------------------------- the fit


@dataclass
class TeachResult:
    name: str
    adaptation: dict
    fit: object  # model.adapt.AdapterFit
    warnings: list[str]
    negative_sources: dict[str, int]


def fit_from_windows(
    engine,
    name: str,
    vector: np.ndarray,
    positives: WindowSet,
    *,
    extra_negatives: Sequence[tuple[str, Sequence]] = (),
    l2: float | dict[str, float] | None = None,
    registry=None,
    neutral=None,
) -> TeachResult:
    """Fit the adapter of ``name`` on ``positives`` against every negative source at hand.

    With a calibrated predictor and a checkpoint that asks for it (``model.adapt.checkpoint_recentres``), the
    positives are first re-centred on the user's own neutral representation: ``neutral`` (a WindowBatch of the
    user's neutral windows; None: the stored baseline's, ``livemer.baseline.load_neutral_windows``) against the
    replay's neutral windows (``model.adapt.recentre``).
    """
    from model import adapt
    from model.inference import batch_windows

    reg = registry if registry is not None else engine.registry
    warnings = list(positives.warnings)
    if len(positives) < adapt.MIN_POSITIVE_WINDOWS:
        raise LivemerError(
            f"too few examples of '{name}': {len(positives)} usable window(s) from {positives.clips} clip(s); "
            f"give at least {adapt.MIN_POSITIVE_WINDOWS} windows (about {MIN_CONTEXT + 0.4:g} s of face or voice)"
        )
    if positives.clips < FEW_CLIPS:
        warnings.append(
            f"only {positives.clips} usable clip(s) of '{name}': the adapter may follow that clip "
            f"rather than the emotion; {FEW_CLIPS}+ clips are better"
        )
    pred = engine.predictor
    pos = adapt.encode_batch(pred, batch_windows(positives.windows), weights=adapt.clip_weights(positives.groups))
    negs: list = []
    sources: dict[str, int] = {}
    replay = adapt.replay_of(engine.checkpoint)
    if replay is not None:  # the replay is the population itself, never shifted by the user's baseline
        negs.append(adapt.encode_batch(pred, replay, calibrated=False))
        sources["replay of trained emotions"] = len(negs[-1])
    for other, batch in stored_windows(reg, exclude=name):
        negs.append(adapt.encode_batch(pred, batch))
        sources[f"taught '{other}'"] = len(negs[-1])
    for label, wins in extra_negatives:
        wins = [w for w in wins if _usable(w)]
        if wins:
            negs.append(adapt.encode_batch(pred, batch_windows(list(wins))))
            sources[label] = len(wins)
    if not negs:
        raise LivemerError(
            f"nothing to contrast '{name}' with: this checkpoint carries no replay set of its trained emotions "
            f"and no other emotion is taught; pass --negatives CLIPS (clips that are not '{name}')"
        )
    recentred = False
    if pred.calibration and replay is not None and adapt.checkpoint_recentres(engine.checkpoint):
        pos, recentred, note = _recentred(engine.checkpoint, pred, pos, negs[0], neutral)
        if note:
            warnings.append(note)
    neg = adapt.Examples.concat(negs)
    rows = adapt.zero_shot_rows(pred, vector)
    try:
        l2 = adapt.checkpoint_l2(engine.checkpoint) if l2 is None else l2  # the checkpoint's own, else the default
        fit = adapt.fit_adapter(pos, neg, rows, pred.fusion_weights, l2=l2)
    except adapt.AdaptError as exc:
        raise LivemerError(f"cannot adapt '{name}': {exc}") from None
    if not all(np.all(np.isfinite(v)) for v in fit.embeddings.values()):
        raise LivemerError(f"cannot adapt '{name}': the fit diverged (non-finite weights)")
    adaptation = {
        "version": ADAPTER_VERSION,
        "method": adapt.METHOD,
        "checkpoint": adapt.checkpoint_fingerprint(engine.checkpoint),
        "embeddings": {m: [round(float(x), 6) for x in v] for m, v in fit.embeddings.items()},
        "offset": round(float(fit.offset), 6),
        "examples": int(positives.clips),
        "windows": int(fit.positives),
        "negatives": int(fit.negatives),
        "negative_sources": sources,
        "l2": dict(fit.l2),
        "train_auc": None if math.isnan(fit.train_auc) else round(float(fit.train_auc), 4),
        "calibrated": bool(pred.calibration),
        "recentred": recentred,
        "fitted": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return TeachResult(name, adaptation, fit, warnings, sources)


def _recentred(checkpoint, pred, pos, replay_examples, neutral):
    """(positives, recentred?, note): the positives moved by (replay neutral - the user's neutral) mean
    representation, or unchanged with the reason when either side is missing."""
    from model import adapt

    from .baseline import load_neutral_windows

    lw = adapt.replay_labels(checkpoint)
    pop = adapt.labelled(replay_examples, *lw, "neutral") if lw is not None else None
    own_batch = neutral if neutral is not None else load_neutral_windows(checkpoint)
    if pop is None or own_batch is None or not len(own_batch.text):
        why = "no neutral windows in its replay" if pop is None else "the stored baseline has no neutral windows"
        return pos, False, f"examples not re-centred on your neutral representation ({why}; calibrate again)"
    own = adapt.encode_batch(pred, own_batch)
    return adapt.recentre(pos, own, pop), True, None


def store(registry, result: TeachResult, word: str, space: str, vector: np.ndarray, positives: WindowSet) -> None:
    """Write the example windows, then the registry entry; if the registry write fails the windows go too."""
    path = windows_path(registry, result.name)
    old = path.read_bytes() if path.exists() else None
    save_windows_atomic(path, windows_arrays(positives.windows))
    try:
        registry.add(result.name, word, space, vector, adaptation=result.adaptation)
    except BaseException:
        if old is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(old)
        raise


def forget(registry, name: str) -> None:
    """Remove the stored example windows of ``name`` (the registry entry is removed by the caller)."""
    windows_path(registry, name).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- loading


def usable_adaptations(checkpoint, entries) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """(name -> modality -> row) of the entries whose adapter fits ``checkpoint``, and one note per other."""
    from model.adapt import OFFSET_KEY, checkpoint_fingerprint

    fp = None
    out, notes = {}, []
    for e in entries:
        a = e.adaptation
        if not a:
            continue
        fp = fp or checkpoint_fingerprint(checkpoint)
        if a.get("checkpoint") != fp:
            notes.append(
                f"'{e.name}' was adapted for another checkpoint; scored zero-shot "
                f"(teach it again: livemer add-emotion {e.name} --examples ...)"
            )
            continue
        try:
            out[e.name] = {m: np.asarray(v, np.float32) for m, v in dict(a["embeddings"]).items()}
            if a.get("offset"):
                out[e.name][OFFSET_KEY] = np.asarray([float(a["offset"])], np.float32)
        except (KeyError, TypeError, ValueError):
            notes.append(f"'{e.name}': unreadable adapter; scored zero-shot")
    return out, notes
