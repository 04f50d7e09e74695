"""Metrics (paper §5.3) against hand-computed values, and their degenerate cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from model.metrics import EmotionMetrics, MetricsTable, accuracy, evaluate_scores, f1, roc_auc, weighted_accuracy


def test_weighted_accuracy_hand_computed():
    # P=2, N=4, TP=1, TN=3 -> (1 * 4/2 + 3) / (2 * 4) = 5/8
    y = [1, 1, 0, 0, 0, 0]
    p = [1, 0, 0, 0, 1, 0]
    assert weighted_accuracy(y, p) == pytest.approx(0.625)
    # P=1, N=3, TP=1, TN=1 -> (1 * 3 + 1) / 6 = 2/3
    assert weighted_accuracy([1, 0, 0, 0], [1, 1, 1, 0]) == pytest.approx(2 / 3)


def test_weighted_accuracy_is_balanced():
    y = np.array([1] + [0] * 9)
    assert weighted_accuracy(y, np.zeros(10)) == 0.5  # all-negative scores only half
    assert weighted_accuracy(y, y) == 1.0
    assert weighted_accuracy(y, 1 - y) == 0.0
    assert accuracy(y, np.zeros(10)) == pytest.approx(0.9)


def test_weighted_accuracy_single_class_is_nan():
    assert math.isnan(weighted_accuracy([0, 0, 0], [0, 1, 0]))
    assert math.isnan(weighted_accuracy([1, 1], [1, 1]))


def test_auc_hand_computed():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ranked right
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)  # the tie counts one half
    assert roc_auc([1, 0], [0.2, 0.9]) == 0.0


def test_auc_degenerate_cases_are_nan():
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(roc_auc([0, 1], [0.1, np.nan]))


def test_f1_hand_computed():
    # TP=1, FP=1, FN=1 -> 2/(2+1+1)
    assert f1([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.5)
    assert f1([1, 1, 1, 0], [1, 1, 1, 1]) == pytest.approx(6 / 7)
    assert f1([1, 0], [0, 1]) == 0.0
    assert math.isnan(f1([0, 0], [0, 0]))


def test_evaluate_scores_per_emotion_and_threshold():
    y = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    probs = np.array([[0.9, 0.2], [0.4, 0.7], [0.6, 0.1], [0.1, 0.5]])
    t = evaluate_scores(y, probs, ["happy", "sad"])
    happy, sad = t.rows
    # happy: preds [1,0,1,0]; TP=1 TN=1 P=2 N=2 -> W-Acc 0.5; AUC: 0.9>0.6,0.9>0.1,0.4<0.6,0.4>0.1 -> 3/4
    assert (happy.w_acc, happy.auc, happy.f1, happy.acc) == pytest.approx((0.5, 0.75, 0.5, 0.5))
    assert (happy.positives, happy.negatives) == (2, 2)
    # sad: preds [0,1,0,1] (0.5 counts as positive) -> perfect
    assert (sad.w_acc, sad.auc, sad.f1) == pytest.approx((1.0, 1.0, 1.0))
    assert t.notes == []
    strict = evaluate_scores(y, probs, ["happy", "sad"], threshold=0.55)
    assert strict.rows[1].f1 == pytest.approx(2 / 3)


def test_single_class_emotion_gives_nan_and_a_note():
    y = np.array([[1, 0], [0, 0], [1, 0]])
    probs = np.array([[0.8, 0.3], [0.2, 0.6], [0.7, 0.1]])
    t = evaluate_scores(y, probs, ["happy", "fear"])
    fear = t.rows[1]
    assert math.isnan(fear.w_acc) and math.isnan(fear.auc)
    assert fear.note and fear.f1 == 0.0  # one false positive
    assert len(t.notes) == 1 and t.notes[0].startswith("fear:")
    assert t.average().w_acc == pytest.approx(1.0)  # NaN rows are skipped in the average


def test_label_mask_limits_each_emotion():
    y = np.array([[1, 1], [0, 0], [1, 0], [0, 1]])
    probs = np.array([[0.9, 0.9], [0.1, 0.9], [0.2, 0.1], [0.3, 0.8]])
    mask = np.array([[1, 1], [1, 0], [1, 0], [1, 1]], bool)
    t = evaluate_scores(y, probs, ["a", "b"], label_mask=mask)
    assert (t.rows[1].positives, t.rows[1].negatives) == (2, 0)
    assert "single class" in t.rows[1].note
    none = evaluate_scores(y, probs, ["a", "b"], label_mask=np.zeros((4, 2), bool))
    assert none.rows[0].note == "no labelled samples" and math.isnan(none.rows[0].auc)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="must both be"):
        evaluate_scores(np.zeros((3, 2)), np.zeros((3, 3)), ["a", "b"])
    with pytest.raises(ValueError):
        evaluate_scores(np.zeros((3, 2)), np.zeros((3, 2)), ["a"])


def _table() -> MetricsTable:
    return MetricsTable(
        [
            EmotionMetrics("happy", 0.625, 0.75, 0.5, 0.6, 2, 4),
            EmotionMetrics("sad", math.nan, math.nan, 0.25, 0.5, 0, 6, "single class"),
            EmotionMetrics("anger", 0.875, 0.95, 0.7, 0.9, 3, 3),
        ],
        notes=["sad: single class"],
    )


def test_average_skips_nan_and_honours_exclude():
    avg = _table().average()
    assert avg.emotion == "average"
    assert avg.w_acc == pytest.approx(0.75) and avg.auc == pytest.approx(0.85)
    assert avg.f1 == pytest.approx((0.5 + 0.25 + 0.7) / 3)
    assert (avg.positives, avg.negatives) == (5, 13)
    ex = _table().average(exclude=("anger",))
    assert ex.w_acc == pytest.approx(0.625) and ex.positives == 2
    assert math.isnan(MetricsTable([]).average().w_acc)


def test_format_shows_percentages_na_average_and_notes():
    text = _table().format(title="dev set")
    lines = text.splitlines()
    assert lines[0] == "dev set"
    assert lines[1].split() == ["emotion", "W-Acc", "AUC", "F1", "pos", "neg"]
    assert lines[2].split() == ["happy", "62.5", "75.0", "50.0", "2", "4"]
    assert lines[3].split() == ["sad", "n/a", "n/a", "25.0", "0", "6"]
    assert lines[5].split() == ["average", "75.0", "85.0", "48.3", "5", "13"]
    assert lines[-1] == "note: sad: single class"


def test_to_dict_is_strict_json():
    d = _table().to_dict()
    json.dumps(d, allow_nan=False)
    assert d["per_emotion"]["sad"]["w_acc"] is None
    assert d["average"]["w_acc"] == pytest.approx(0.75)
    assert d["notes"] == ["sad: single class"]


def test_samples_without_a_prediction_are_left_out_with_a_note():
    """A window with no modality has NaN probabilities; it must not wipe out the AUC."""
    y = np.array([[1], [0], [1], [0], [1]])
    probs = np.array([[0.9], [0.2], [np.nan], [0.6], [0.4]])
    row = evaluate_scores(y, probs, ["happy"]).rows[0]
    # kept: y=[1,0,0,1], p=[.9,.2,.6,.4]; pairs .9>.2, .9>.6, .4>.2 right, .4<.6 wrong -> 3/4
    assert row.auc == pytest.approx(0.75)
    assert (row.positives, row.negatives) == (2, 2)
    assert "1 samples without a prediction left out" in row.note
