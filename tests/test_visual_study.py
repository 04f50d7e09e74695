"""The visual linear probe's pieces on synthetic data (the study itself runs on ../shared)."""

from __future__ import annotations

import numpy as np

from recipes.visual_study import dead_columns, fit_predict, ovr_auc


def test_separable_classes_score_high_and_untrained_ones_are_not_scored():
    rng = np.random.default_rng(0)
    centers = {"happy": [3, 0, 0], "sad": [0, 3, 0], "fear": [0, 0, 3]}
    y = np.array([e for e in centers for _ in range(60)])
    x = np.array([centers[e] for e in y], float) + rng.normal(size=(len(y), 3))
    x = np.concatenate([x, np.ones((len(y), 1))], axis=1)  # a dead column
    tr = np.arange(len(y)) % 3 != 0
    classes, proba = fit_predict(x[tr], y[tr], x[~tr])
    auc = ovr_auc(classes, proba, y[~tr], ["happy", "sad", "fear", "disgust"])
    assert min(auc["happy"], auc["sad"], auc["fear"]) > 0.95 and np.isnan(auc["disgust"])
    shuffled = ovr_auc(classes, proba, rng.permutation(y[~tr]), ["happy"])
    assert 0.25 < shuffled["happy"] < 0.75  # labels unrelated to the features: near chance
    assert dead_columns(x, ["a", "b", "c", "const"]) == ["const"]


def test_au_columns_are_the_backend_aus():
    from feature_adapters.blendshapes import BLENDSHAPE_NAMES
    from feature_adapters.face_mediapipe import BLENDSHAPE_TO_AU, blendshapes_to_aus
    from recipes.visual_study import au_columns

    rows = np.random.default_rng(1).random((3, len(BLENDSHAPE_NAMES)))
    got = au_columns(rows)
    assert got.shape == (3, len(BLENDSHAPE_TO_AU))
    want = blendshapes_to_aus(dict(zip(BLENDSHAPE_NAMES, rows[2])))
    np.testing.assert_allclose(got[2], [want[k] for k in BLENDSHAPE_TO_AU])


def test_mlp_reference_probe_and_unknown_model():
    import pytest

    rng = np.random.default_rng(2)
    y = np.array(["a", "b"] * 80)
    x = np.where(y[:, None] == "a", 1.5, -1.5) * np.ones((160, 2)) + rng.normal(size=(160, 2))
    classes, proba = fit_predict(x[:120], y[:120], x[120:], model="mlp")
    assert ovr_auc(classes, proba, y[120:], ["a"])["a"] > 0.9
    with pytest.raises(ValueError, match="unknown probe model"):
        fit_predict(x, y, x, model="svm")
