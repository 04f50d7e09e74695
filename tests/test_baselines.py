"""EF-LSTM baseline: early fusion, masking, no zero-shot path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.datasets import EmotionDataset
from recipes.baselines import EarlyFusionLSTM, EFLSTMConfig, predict_ef


def _net(k=3, seed=0):
    torch.manual_seed(seed)
    return EarlyFusionLSTM(EFLSTMConfig(input_dims=(4, 3, 2), hidden=8, num_layers=1, num_labels=k)).eval()


@pytest.mark.slow
def test_masked_modality_equals_zero_features():
    net = _net()
    B, T = 5, 6
    t, a, v = torch.randn(B, T, 4), torch.randn(B, T, 3), torch.randn(B, T, 2)
    m = torch.tensor([[True, False, True]] * B)
    with torch.no_grad():
        masked = net(t, a, v, m)
        zeros = net(t, torch.zeros_like(a), v)
        compact = net(t, torch.zeros(B, 1, 3), v, m)  # absent modality passed as one step
    torch.testing.assert_close(masked, zeros)
    torch.testing.assert_close(compact, zeros)
    with torch.no_grad():
        assert not torch.allclose(net(t, a, v), masked)


def test_predict_ef_subsets_and_nan_rows():
    net = _net(k=3)
    n, T = 7, 5
    rng = np.random.default_rng(0)
    text = rng.normal(size=(n, T, 4)).astype(np.float32)
    text[0] = 0  # sample 0 has no text
    ds = EmotionDataset(
        text,
        rng.normal(size=(n, T, 3)).astype(np.float32),
        rng.normal(size=(n, T, 2)).astype(np.float32),
        np.zeros((n, 2), np.float32),
        ["x", "y"],
    )
    p_all = predict_ef(net, ds, [2, 0])
    assert p_all.shape == (n, 2) and np.isfinite(p_all).all()
    p_t = predict_ef(net, ds, [2, 0], ("text",))
    assert np.isnan(p_t[0]).all() and np.isfinite(p_t[1:]).all()
    with torch.no_grad():
        direct = torch.sigmoid(net(torch.from_numpy(text), torch.from_numpy(ds.acoustic), torch.from_numpy(ds.visual)))
    np.testing.assert_allclose(p_all, direct.numpy()[:, [2, 0]], rtol=1e-5, atol=1e-6)


def test_a_batch_with_one_modality_reads_it_whatever_the_placeholders_length():
    # a speech-only batch: text and visual are 1-step zero placeholders, acoustic has T steps
    torch.manual_seed(0)
    net = EarlyFusionLSTM(EFLSTMConfig(hidden=4, num_layers=1, num_labels=2)).eval()
    a1, a2 = torch.randn(3, 5, 74), torch.randn(3, 5, 74)
    t, v = torch.zeros(3, 1, 50), torch.zeros(3, 1, 35)
    mask = torch.tensor([[False, True, False]] * 3)
    with torch.no_grad():
        assert not torch.allclose(net(t, a1, v, mask), net(t, a2, v, mask))
