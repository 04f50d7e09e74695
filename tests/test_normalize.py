"""Feature normalisation: sanitising, statistics over observed steps, masked steps stay exactly zero."""

from __future__ import annotations

import json

import numpy as np

from model.normalize import NormStats, apply_stats, fit_stats, sanitize


def test_sanitize_zeroes_nan_and_infinities_only():
    x = np.array([[1.5, np.nan, -np.inf], [np.inf, -2.0, 0.0]], dtype=np.float64)
    y = sanitize(x)
    assert y.dtype == np.float32
    assert np.array_equal(y, np.array([[1.5, 0, 0], [0, -2.0, 0]], np.float32))
    assert np.isnan(x[0, 1])  # input left untouched


def test_fit_stats_uses_observed_steps_only():
    x = np.zeros((2, 3, 2), np.float32)
    x[0, 1] = [1.0, 10.0]
    x[0, 2] = [3.0, 10.0]
    x[1, 2] = [5.0, 40.0]
    x[1, 0] = [999.0, -999.0]  # padding: must be ignored
    mask = np.array([[False, True, True], [False, False, True]])
    st = fit_stats(x, mask)
    # observed rows: (1,10), (3,10), (5,40) -> mean (3, 20); population std (sqrt(8/3), sqrt(200))
    assert np.allclose(st.mean, [3.0, 20.0])
    assert np.allclose(st.std, [np.sqrt(8 / 3), np.sqrt(200.0)], rtol=1e-5)


def test_fit_stats_constant_column_passes_through_centred():
    x = np.stack([np.full(5, 7.0), np.arange(5.0)], axis=1)[None].astype(np.float32)  # (1, 5, 2)
    st = fit_stats(x)
    assert st.std[0] == 1.0 and st.mean[0] == 7.0
    y = apply_stats(x, st)
    assert np.allclose(y[0, :, 0], 0.0)


def test_fit_stats_treats_non_finite_as_zero_and_empty_as_identity():
    st = fit_stats(np.array([[np.nan, 2.0], [np.inf, 4.0]], np.float32))
    assert np.allclose(st.mean, [0.0, 3.0])
    empty = fit_stats(np.ones((2, 3, 4), np.float32), np.zeros((2, 3), bool))
    assert np.array_equal(empty.mean, np.zeros(4)) and np.array_equal(empty.std, np.ones(4))


def test_apply_stats_keeps_masked_steps_exactly_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(2, 4, 3)).astype(np.float32)
    x[0, 0] = [np.nan, np.inf, 1e9]  # garbage on an unobserved step
    mask = np.array([[False, True, True, True], [False, False, True, True]])
    st = NormStats(np.full(3, 5.0, np.float32), np.full(3, 2.0, np.float32))
    y = apply_stats(x, st, mask)
    assert np.all(y[~mask] == 0.0)
    assert np.allclose(y[mask], (x[mask] - 5.0) / 2.0, atol=1e-6)
    assert np.isfinite(y).all()


def test_apply_stats_clips_outliers_and_sanitises():
    st = NormStats.identity(3)
    y = apply_stats(np.array([[[50.0, -50.0, np.nan]]], np.float32), st, clip=10.0)
    assert np.array_equal(y, np.array([[[10.0, -10.0, 0.0]]], np.float32))


def test_fitted_stats_standardise_the_training_data():
    rng = np.random.default_rng(1)
    x = rng.normal([1.0, -4.0, 100.0], [0.5, 2.0, 30.0], size=(50, 6, 3)).astype(np.float32)
    mask = rng.random((50, 6)) > 0.3
    y = apply_stats(x, fit_stats(x, mask), mask)
    assert np.allclose(y[mask].mean(axis=0), 0.0, atol=1e-4)
    assert np.allclose(y[mask].std(axis=0), 1.0, atol=1e-3)


def test_norm_stats_dict_round_trip():
    st = NormStats(np.array([1.0, 2.5], np.float32), np.array([0.5, 3.0], np.float32))
    back = NormStats.from_dict(json.loads(json.dumps(st.to_dict())))
    assert np.array_equal(back.mean, st.mean) and np.array_equal(back.std, st.std)
    assert back.mean.dtype == np.float32


def test_per_window_mean_centres_each_window_over_its_observed_steps():
    from model.normalize import window_standardize

    x = np.zeros((2, 4, 2), np.float32)
    x[0, 1:] = [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]
    x[0, 0] = [99.0, 99.0]  # unobserved
    x[1, 3] = [5.0, -5.0]  # a window of one step
    mask = np.array([[False, True, True, True], [False, False, False, True]])
    y = window_standardize(x, mask, "mean")
    assert np.allclose(y[0, 1:], [[-1.0, -10.0], [0.0, 0.0], [1.0, 10.0]])
    assert np.all(y[~mask] == 0.0) and np.all(y[1] == 0.0)
    z = window_standardize(x, mask, "meanstd")
    assert np.allclose(z[0, 1:, 0], z[0, 1:, 1])  # both columns scaled to unit spread
    assert np.allclose(z[0, 1:].std(axis=0), 1.0, atol=1e-5)
    assert np.all(z[1] == 0.0)  # one step: centred, never divided by a zero spread


def test_per_window_stats_remove_a_speaker_offset_and_round_trip():
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 1.0, size=(30, 6, 3)).astype(np.float32)
    mask = rng.random((30, 6)) > 0.2
    mask[:, -1] = True
    st = fit_stats(x, mask, per_window="mean")
    assert st.per_window == "mean"
    shifted = x + np.array([3.0, -7.0, 50.0], np.float32)  # a louder, higher voice: the same after centring
    assert np.allclose(apply_stats(x, st, mask), apply_stats(shifted, st, mask), atol=1e-4)
    back = NormStats.from_dict(json.loads(json.dumps(st.to_dict())))
    assert back.per_window == "mean" and np.array_equal(back.mean, st.mean)


def test_stats_without_a_mode_are_the_global_ones_and_save_as_before():
    st = NormStats(np.array([1.0], np.float32), np.array([2.0], np.float32))
    assert st.to_dict() == {"mean": [1.0], "std": [2.0]}  # older checkpoints' dicts, unchanged
    assert NormStats.from_dict({"mean": [1.0], "std": [2.0]}).per_window == ""
    x = np.array([[[3.0], [5.0]]], np.float32)
    assert np.allclose(apply_stats(x, st), [[[1.0], [2.0]]])


def test_unknown_per_window_mode_is_refused():
    import pytest

    with pytest.raises(ValueError, match="per-window"):
        NormStats(np.zeros(1, np.float32), np.ones(1, np.float32), "median")


def test_per_window_columns_leave_the_other_columns_as_they_are():
    rng = np.random.default_rng(3)
    x = rng.normal(4.0, 2.0, size=(5, 6, 3)).astype(np.float32)
    mask = np.ones((5, 6), bool)
    mask[:, :2] = False
    st = fit_stats(x, mask, per_window="mean", window_columns=[1])
    back = NormStats.from_dict(json.loads(json.dumps(st.to_dict())))
    assert back.window_columns == (1,)
    y = apply_stats(x, back, mask)
    assert np.allclose(y[mask][:, [0, 2]], ((x - st.mean) / st.std)[mask][:, [0, 2]], atol=1e-5)
    moved = x.copy()
    moved[..., 1] += 9.0  # only the windowed column forgets a constant offset
    assert np.allclose(apply_stats(moved, back, mask), y, atol=1e-4)
    assert np.all(y[~mask] == 0.0)
