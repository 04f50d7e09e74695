"""The paper's metrics (§5.3): weighted accuracy, ROC AUC and F1 per emotion, plus averages.

Degenerate cases (a single class in the labels) give NaN with a note, never a crash.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np


def weighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """(TP * N/P + TN) / 2N (Tong et al., 2017); NaN when P or N is 0."""
    y = np.asarray(y_true).astype(bool).reshape(-1)
    p = np.asarray(y_pred).astype(bool).reshape(-1)
    P = int(y.sum())
    N = int((~y).sum())
    if P == 0 or N == 0:
        return math.nan
    tp = int((y & p).sum())
    tn = int((~y & ~p).sum())
    return (tp * N / P + tn) / (2 * N)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y = np.asarray(y_true).astype(bool).reshape(-1)
    p = np.asarray(y_pred).astype(bool).reshape(-1)
    return float((y == p).mean()) if y.size else math.nan


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present or scores are not finite."""
    y = np.asarray(y_true).astype(bool).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.all() or (~y).all() or not np.isfinite(s).all():
        return math.nan
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 of the positive class; NaN when there are no positives and no predicted positives."""
    y = np.asarray(y_true).astype(bool).reshape(-1)
    p = np.asarray(y_pred).astype(bool).reshape(-1)
    tp = int((y & p).sum())
    fp = int((~y & p).sum())
    fn = int((y & ~p).sum())
    if tp + fp + fn == 0:
        return math.nan
    return 2 * tp / (2 * tp + fp + fn)


@dataclass
class EmotionMetrics:
    emotion: str
    w_acc: float
    auc: float
    f1: float
    acc: float
    positives: int
    negatives: int
    note: str = ""


@dataclass
class MetricsTable:
    rows: list[EmotionMetrics]
    notes: list[str] = field(default_factory=list)

    def average(self, exclude: tuple[str, ...] = ()) -> EmotionMetrics:
        rows = [r for r in self.rows if r.emotion not in exclude]

        def m(attr: str) -> float:
            vals = [getattr(r, attr) for r in rows if not math.isnan(getattr(r, attr))]
            return float(np.mean(vals)) if vals else math.nan

        return EmotionMetrics(
            "average",
            m("w_acc"),
            m("auc"),
            m("f1"),
            m("acc"),
            sum(r.positives for r in rows),
            sum(r.negatives for r in rows),
        )

    def to_dict(self) -> dict:
        avg = self.average()
        return {
            "per_emotion": {r.emotion: _row_dict(r) for r in self.rows},
            "average": _row_dict(avg),
            "notes": list(self.notes),
        }

    def format(self, title: str | None = None) -> str:
        """The paper-style table: W-Acc, AUC and F1 per emotion and the average (percent)."""
        lines = []
        if title:
            lines.append(title)
        lines.append(f"{'emotion':<14}{'W-Acc':>8}{'AUC':>8}{'F1':>8}{'pos':>7}{'neg':>7}")
        for r in self.rows + [self.average()]:
            lines.append(
                f"{r.emotion:<14}{_pct(r.w_acc):>8}{_pct(r.auc):>8}{_pct(r.f1):>8}{r.positives:>7}{r.negatives:>7}"
            )
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)


def _pct(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{100 * x:.1f}"


def _row_dict(r: EmotionMetrics) -> dict:
    def clean(x):
        return None if isinstance(x, float) and math.isnan(x) else x

    return {
        "w_acc": clean(r.w_acc),
        "auc": clean(r.auc),
        "f1": clean(r.f1),
        "acc": clean(r.acc),
        "positives": r.positives,
        "negatives": r.negatives,
        "note": r.note,
    }


def evaluate_scores(
    y_true: np.ndarray,
    probs: np.ndarray,
    emotions: list[str],
    threshold: float = 0.5,
    label_mask: np.ndarray | None = None,
) -> MetricsTable:
    """Per-emotion metrics for (N, K) multi-hot labels and (N, K) probabilities.

    ``label_mask`` (N, K) bool limits each emotion to the samples labelled for it
    (e.g. a text-only corpus never labels 'calm').
    """
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(probs, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2 or y.shape[1] != len(emotions):
        raise ValueError(f"labels {y.shape} and probabilities {p.shape} must both be (N, {len(emotions)})")
    rows: list[EmotionMetrics] = []
    notes: list[str] = []
    for k, e in enumerate(emotions):
        sel = np.ones(len(y), bool) if label_mask is None else np.asarray(label_mask[:, k], bool)
        # samples without a prediction (NaN: no modality present) are left out, with a note,
        # rather than turning the AUC into NaN and counting them as negatives
        finite = np.isfinite(p[:, k])
        skipped = int((sel & ~finite).sum())
        sel = sel & finite
        yk, pk = y[sel, k], p[sel, k]
        pred = pk >= threshold
        parts = []
        if skipped:
            parts.append(f"{skipped} samples without a prediction left out")
        if yk.size == 0:
            parts.append("no labelled samples")
        elif yk.all() or (~yk).all():
            parts.append("single class in the labels: W-Acc and AUC undefined")
        note = "; ".join(parts)
        if note:
            notes.append(f"{e}: {note}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows.append(
                EmotionMetrics(
                    e,
                    weighted_accuracy(yk, pred),
                    roc_auc(yk, pk),
                    f1(yk, pred),
                    accuracy(yk, pred),
                    int(yk.sum()),
                    int((~yk).sum()),
                    note,
                )
            )
    return MetricsTable(rows, notes)
