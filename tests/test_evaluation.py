"""Checkpoint evaluation: modality subsets through masks, zero-shot vectors, paper table layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.checkpoint import Checkpoint
from model.datasets import EmotionDataset
from model.evaluation import (
    ABLATION_SUBSETS,
    evaluate_checkpoint,
    evaluate_subsets,
    format_ablation,
    modality_code,
    predict_dataset,
    table_setting,
    transfer_summary,
)
from model.metrics import evaluate_scores

SIX = ["anger", "disgust", "fear", "happy", "sad", "surprise"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def ck(tiny_checkpoint):
    return Checkpoint.load(tiny_checkpoint)


def data(n=60, seed=0, emotions=SIX):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(n, 8, 50)).astype(np.float32)
    a = rng.normal(size=(n, 8, 74)).astype(np.float32)
    v = rng.normal(size=(n, 8, 35)).astype(np.float32)
    t[:, :2] = a[:, :2] = v[:, :2] = 0.0
    y = (rng.random((n, len(emotions))) < 0.4).astype(np.float32)
    y[0] = 1.0
    y[1] = 0.0
    return EmotionDataset(t, a, v, y, list(emotions), name="eval")


@pytest.mark.slow
def test_evaluate_matches_metrics_on_the_predictions(ck):
    ds = data()
    probs = predict_dataset(ck, ds)
    assert probs.shape == (60, 6) and np.isfinite(probs).all()
    table = evaluate_checkpoint(ck, ds)
    ref = evaluate_scores(ds.labels, probs, SIX)
    for r, q in zip(table.rows, ref.rows):
        assert r.emotion == q.emotion and r.auc == pytest.approx(q.auc) and r.w_acc == pytest.approx(q.w_acc)


@pytest.mark.slow
def test_modality_subsets_are_masks_not_retraining(ck):
    ds = data()
    p_t = predict_dataset(ck, ds, modalities="t")
    noisy = EmotionDataset(ds.text, ds.acoustic * 50 + 3, -ds.visual, ds.labels, ds.emotions)
    assert np.allclose(predict_dataset(ck, noisy, modalities="t"), p_t, atol=1e-6)  # a and v are not read
    assert not np.allclose(predict_dataset(ck, noisy, modalities="tav"), predict_dataset(ck, ds, modalities="tav"))
    p_av = predict_dataset(ck, ds, modalities="av")
    noisy_text = EmotionDataset(ds.text * -3, ds.acoustic, ds.visual, ds.labels, ds.emotions)
    assert np.allclose(predict_dataset(ck, noisy_text, modalities="av"), p_av, atol=1e-6)


@pytest.mark.slow
def test_samples_with_no_modality_left_are_excluded(ck):
    ds = data()
    mm = ds.modality_mask.copy()
    mm[:10, 0] = False  # text missing in ten samples
    d = EmotionDataset(ds.text, ds.acoustic, ds.visual, ds.labels, ds.emotions, modality_mask=mm)
    p = predict_dataset(ck, d, modalities="t")
    assert np.isnan(p[:10]).all() and np.isfinite(p[10:]).all()
    table = evaluate_checkpoint(ck, d, "t")
    assert sum(r.positives + r.negatives for r in table.rows) == 50 * 6


@pytest.mark.slow
def test_ablation_enumerates_table_6(ck):
    tables = evaluate_subsets(ck, data())
    assert list(tables) == list(ABLATION_SUBSETS) == ["tav", "ta", "tv", "av", "t", "a", "v"]
    text = format_ablation(tables)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["W-Acc", "anger"] and lines[0].split()[-1] == "average"
    assert lines[1].startswith("T+A+V") and lines[5].startswith("only T") and len(lines) == 8
    assert modality_code(("visual", "text")) == "tv"


@pytest.mark.slow
def test_unseen_emotion_needs_a_vector(ck):
    ds = data(emotions=SIX[:5] + ["nostalgic"])
    with pytest.raises(KeyError, match="no vector for emotion 'nostalgic'"):
        evaluate_checkpoint(ck, ds)
    from model.inference import Predictor

    pred = Predictor(ck)
    pred.add_emotion("nostalgic", np.ones(50, np.float32))
    table = evaluate_checkpoint(ck, ds, predictor=pred)
    assert [r.emotion for r in table.rows][-1] == "nostalgic" and not math.isnan(table.rows[-1].auc)


@pytest.mark.slow
def test_transfer_layout_separates_new_from_old(ck):
    table = evaluate_checkpoint(ck, data())
    s = transfer_summary(table, ["fear"], "zero-shot")
    assert [r.emotion for r in s.new] == ["fear"]
    assert s.other_emotions == ["anger", "disgust", "happy", "sad", "surprise"]
    others = [r for r in table.rows if r.emotion != "fear"]
    assert s.others.auc == pytest.approx(np.mean([r.auc for r in others]))
    text = s.format()
    assert "fear (new)" in text and "average except fear" in text
    d = s.to_dict()
    assert set(d["new"]) == {"fear"} and "others_average" in d


def test_table_setting_from_provenance():
    assert table_setting({"unseen_emotions": ["fear"]}) == ("zero-shot", ["fear"])
    assert table_setting({"few_shot": {"emotion": "anger", "mode": "gem"}, "unseen_emotions": ["anger"]}) == (
        "few-shot (GEM)",
        ["anger"],
    )
    assert table_setting({}) == ("supervised", [])


@pytest.mark.slow
def test_accuracy_line_for_iemocap_style_reports(ck):
    from model.evaluation import format_accuracy

    table = evaluate_checkpoint(ck, data())
    line = format_accuracy(table)
    assert line.startswith("accuracy: anger ") and f"average {100 * table.average().acc:.1f}" in line
