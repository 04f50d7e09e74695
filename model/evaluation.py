"""Evaluate a checkpoint on a dataset, for any subset of modalities, in the paper's table layouts.

Scoring goes through :class:`model.inference.Predictor` (the live app's path):
the checkpoint's normalisation is applied to observed steps and the modality
mask switches modalities off without retraining (Table 5/6 ablations).
Emotions the checkpoint was not trained on are scored from their word vectors
(the checkpoint's own list, or a provider of the same embedding space), which
is the zero-shot path through f_t->a and f_t->v.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checkpoint import Checkpoint
from .config import MODALITIES
from .datasets import EmotionDataset
from .inference import Predictor, dataset_batch, parse_modalities
from .metrics import EmotionMetrics, MetricsTable, evaluate_scores

# Table 6 rows, in the paper's order
ABLATION_SUBSETS = ("tav", "ta", "tv", "av", "t", "a", "v")


def modality_code(modalities: Sequence[str]) -> str:
    """('text', 'acoustic') -> 'ta'."""
    return "".join(m[0] for m in MODALITIES if m in modalities)


def predict_dataset(
    checkpoint: Checkpoint,
    ds: EmotionDataset,
    emotions: Sequence[str] | None = None,
    modalities: str | Sequence[str] | None = "tav",
    batch_size: int = 1024,
    provider=None,
    predictor: Predictor | None = None,
    progress: bool = False,
) -> np.ndarray:
    """(N, K) probabilities of ``emotions`` (default: the dataset's) for raw dataset features."""
    import torch

    pred = predictor or Predictor(checkpoint, provider=provider)
    ems = list(emotions if emotions is not None else ds.emotions)
    mods = parse_modalities(modalities)
    E = torch.from_numpy(pred.emotion_matrix(ems))
    out = []
    starts = range(0, len(ds), batch_size)
    if progress:
        import sys

        from tqdm import tqdm

        starts = tqdm(
            starts, desc=f"evaluating {modality_code(mods).upper()}", unit="batch", leave=False, file=sys.stderr
        )
    with torch.inference_mode():
        for i in starts:
            sl = slice(i, i + batch_size)
            batch = dataset_batch(ds, sl)
            xs, mask = pred.prepare(batch, mods)
            o = pred.net(
                torch.from_numpy(xs["text"]),
                torch.from_numpy(xs["acoustic"]),
                torch.from_numpy(xs["visual"]),
                E,
                torch.from_numpy(mask),
            )
            p = torch.sigmoid(o.logits).numpy()
            p[~mask.any(axis=1)] = np.nan  # no modality left: no prediction
            out.append(p)
    return np.concatenate(out) if out else np.zeros((0, len(ems)), np.float32)


def evaluate_checkpoint(
    checkpoint: Checkpoint,
    ds: EmotionDataset,
    modalities: str | Sequence[str] | None = "tav",
    emotions: Sequence[str] | None = None,
    threshold: float = 0.5,
    provider=None,
    predictor: Predictor | None = None,
    progress: bool = False,
) -> MetricsTable:
    """Per-emotion W-Acc, AUC, F1 (and accuracy) of ``checkpoint`` on ``ds``."""
    ems = list(emotions if emotions is not None else ds.emotions)
    sub = ds.select_emotions(ems)
    probs = predict_dataset(checkpoint, sub, ems, modalities, provider=provider, predictor=predictor, progress=progress)
    lm = sub.label_mask & np.isfinite(probs)
    table = evaluate_scores(sub.labels, np.nan_to_num(probs, nan=0.0), ems, threshold, lm)
    return table


def evaluate_subsets(
    checkpoint: Checkpoint,
    ds: EmotionDataset,
    subsets: Sequence[str] = ABLATION_SUBSETS,
    emotions: Sequence[str] | None = None,
    threshold: float = 0.5,
    provider=None,
    progress: bool = False,
) -> dict[str, MetricsTable]:
    """One table per modality subset ('tav', 'ta', ...), with no retraining."""
    pred = Predictor(checkpoint, provider=provider)
    out = {}
    for s in subsets:
        code = modality_code(parse_modalities(s))
        out[code] = evaluate_checkpoint(checkpoint, ds, code, emotions, threshold, predictor=pred, progress=progress)
    return out


# ---------------------------------------------------------------------------------------------
# layouts
# ---------------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return "  n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _row(r: EmotionMetrics) -> dict[str, Any]:
    def c(x):
        return None if isinstance(x, float) and math.isnan(x) else x

    return {
        "w_acc": c(r.w_acc),
        "auc": c(r.auc),
        "f1": c(r.f1),
        "acc": c(r.acc),
        "positives": r.positives,
        "negatives": r.negatives,
    }


@dataclass
class TransferSummary:
    """Table 4 layout: the new (unseen / few-shot) emotion beside the average of the others."""

    setting: str  # e.g. 'zero-shot', 'few-shot (GEM)'
    new: list[EmotionMetrics]
    others: EmotionMetrics
    other_emotions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "new": {r.emotion: _row(r) for r in self.new},
            "others_average": _row(self.others),
            "other_emotions": list(self.other_emotions),
        }

    def format(self) -> str:
        lines = [f"{self.setting}", f"{'':<28}{'W-Acc':>8}{'AUC':>8}{'F1':>8}"]
        for r in self.new:
            lines.append(f"{r.emotion + ' (new)':<28}{_pct(r.w_acc):>8}{_pct(r.auc):>8}{_pct(r.f1):>8}")
        label = "average except " + ", ".join(r.emotion for r in self.new)
        o = self.others
        lines.append(f"{label:<28}{_pct(o.w_acc):>8}{_pct(o.auc):>8}{_pct(o.f1):>8}")
        return "\n".join(lines)


def transfer_summary(table: MetricsTable, new_emotions: Sequence[str], setting: str) -> TransferSummary:
    new = [r for r in table.rows if r.emotion in new_emotions]
    others = table.average(exclude=tuple(new_emotions))
    others.emotion = "others"
    return TransferSummary(setting, new, others, [r.emotion for r in table.rows if r.emotion not in new_emotions])


def format_accuracy(table: MetricsTable) -> str:
    """One line of plain accuracy per emotion and the average (the metric the paper reports for IEMOCAP)."""
    vals = " ".join(f"{r.emotion} {_pct(r.acc).strip()}" for r in table.rows)
    return f"accuracy: {vals}; average {_pct(table.average().acc).strip()}"


def format_ablation(tables: dict[str, MetricsTable], metric: str = "w_acc") -> str:
    """Table 6 layout: one row per modality subset, one column per emotion, plus the average."""
    if not tables:
        return ""
    names = {"w_acc": "W-Acc", "auc": "AUC", "f1": "F1", "acc": "Acc"}
    first = next(iter(tables.values()))
    ems = [r.emotion for r in first.rows]
    width = max(9, max((len(e) for e in ems), default=0) + 2)
    head = f"{names.get(metric, metric):<8}" + "".join(f"{e:>{width}}" for e in ems) + f"{'average':>{width}}"
    lines = [head]
    for code, t in tables.items():
        label = "+".join(c.upper() for c in code) if len(code) > 1 else f"only {code.upper()}"
        vals = [getattr(r, metric) for r in t.rows] + [getattr(t.average(), metric)]
        lines.append(f"{label:<8}" + "".join(f"{_pct(v):>{width}}" for v in vals))
    return "\n".join(lines)


def table_setting(provenance: dict[str, Any]) -> tuple[str, list[str]]:
    """('zero-shot' / 'few-shot (FT|JT|GEM)' / 'supervised', new emotions) from a checkpoint's provenance."""
    prov = provenance or {}
    fs = prov.get("few_shot")
    if isinstance(fs, dict) and fs.get("emotion"):
        return f"few-shot ({str(fs.get('mode', '')).upper()})", [str(fs["emotion"])]
    unseen = prov.get("unseen_emotions")
    if unseen:
        return "zero-shot", [str(u) for u in unseen]
    return "supervised", []
