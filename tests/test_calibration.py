"""Per-user baseline: observed-step means, the shift to the reference, applying it."""

from __future__ import annotations

import numpy as np

from model import calibration as cal


def test_observed_mean_ignores_unobserved_steps_and_needs_enough():
    x = np.zeros((2, 10, 3))
    x[:, 5:] = 2.0
    x[:, :5] = 99.0  # padding with garbage
    m = np.zeros((2, 10), bool)
    m[:, 5:] = True
    assert np.allclose(cal.observed_mean(x, m), 2.0)
    assert cal.observed_mean(x, m, min_steps=11) is None
    x[0, 6, 0] = np.nan
    assert np.isfinite(cal.observed_mean(x, m)).all()


def test_baseline_shift_is_user_minus_reference_and_skips_missing():
    user = {"acoustic": np.full((1, 20, 2), 3.0), "visual": np.zeros((1, 20, 2))}
    masks = {"acoustic": np.ones((1, 20), bool), "visual": np.zeros((1, 20), bool)}  # no face seen
    shift = cal.baseline_shift(user, masks, {"acoustic": np.array([1.0, 2.0]), "visual": np.zeros(2)})
    assert set(shift) == {"acoustic"}
    assert np.allclose(shift["acoustic"], [2.0, 1.0])


def test_apply_shift_moves_the_user_onto_the_reference():
    x = np.full((1, 4, 2), 5.0, np.float32)
    m = np.array([[False, True, True, True]])
    y = cal.apply_shift(x, np.array([1.0, 2.0]), m)
    assert np.allclose(y[0, 1:], [4.0, 3.0]) and np.allclose(y[0, 0], 5.0)
    assert cal.apply_shift(x, None, m) is x


def test_reference_is_the_replay_neutral_when_there_is_one(tiny_checkpoint):
    from model.adapt import attach_replay, replay_of
    from model.checkpoint import Checkpoint
    from model.datasets import EmotionDataset

    ck = Checkpoint.load(tiny_checkpoint)
    assert np.allclose(cal.reference_means(ck)["acoustic"], ck.normalization["acoustic"].mean)
    n, T = 8, 20
    a = np.zeros((n, T, 74))
    a[::2] = 1.0  # neutral windows
    a[1::2] = 7.0
    ds = EmotionDataset(np.ones((n, T, 50)), a, np.ones((n, T, 35)), np.eye(2)[np.arange(n) % 2], ["neutral", "sad"])
    attach_replay(ck, ds, per_emotion=4)
    ref = cal.reference_means(ck, replay_of(ck))
    assert np.allclose(ref["acoustic"], 1.0)
