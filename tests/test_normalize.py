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
