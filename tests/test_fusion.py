"""Scoring and mask-aware fusion (paper Eq. 3-4), checked against hand-computed numbers."""

from __future__ import annotations

import pytest
import torch

from model.fusion import effective_weights, fuse, modality_scores

W = torch.tensor([1.0, 2.0, 3.0])  # (text, acoustic, visual)


def _mask(*rows):
    return torch.tensor(rows, dtype=torch.bool)


def test_scores_are_dot_products():
    r = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
    E = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert torch.equal(modality_scores(r, E), torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, -0.5]]))


def test_all_present_keeps_the_learned_weights():
    assert torch.allclose(effective_weights(W, _mask([1, 1, 1])), W[None])


def test_missing_modality_shares_its_weight_proportionally():
    # present text (1) and visual (3) sum to 4; total 6 -> scale 1.5
    got = effective_weights(W, _mask([1, 0, 1], [0, 1, 0], [0, 0, 0]))
    expected = torch.tensor([[1.5, 0.0, 4.5], [0.0, 6.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(got, expected)


def test_all_present_fusion_is_the_papers_weighted_sum():
    s = torch.randn(4, 3, 5)
    logits, _ = fuse(s, W, _mask(*[[1, 1, 1]] * 4))
    assert torch.allclose(logits, 1.0 * s[:, 0] + 2.0 * s[:, 1] + 3.0 * s[:, 2], atol=1e-6)


def test_single_modality_equals_its_scores_times_total_weight():
    s = torch.randn(3, 3, 4)
    mask = _mask([1, 0, 0], [0, 1, 0], [0, 0, 1])
    logits, contrib = fuse(s, W, mask)
    for i in range(3):
        assert torch.allclose(logits[i], s[i, i] * W.sum(), atol=1e-6)
        others = [j for j in range(3) if j != i]
        assert torch.count_nonzero(contrib[i, others]) == 0


def test_contributions_sum_to_logits_for_mixed_masks():
    s = torch.randn(4, 3, 6)
    logits, contrib = fuse(s, W, _mask([1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 0]))
    assert contrib.shape == (4, 3, 6)
    assert torch.allclose(contrib.sum(dim=1), logits, atol=1e-6)
    # each sample is fused independently of the others' masks
    alone, _ = fuse(s[1:2], W, _mask([1, 0, 1]))
    assert torch.allclose(alone[0], logits[1], atol=1e-6)


@pytest.mark.slow
def test_all_absent_gives_zero_logits_and_finite_gradients():
    s = torch.randn(2, 3, 4, requires_grad=True)
    w = W.clone().requires_grad_(True)
    logits, contrib = fuse(s, w, _mask([0, 0, 0], [1, 1, 1]))
    assert torch.count_nonzero(logits[0]) == 0 and torch.count_nonzero(contrib[0]) == 0
    logits.sum().backward()
    assert torch.isfinite(w.grad).all() and torch.isfinite(s.grad).all()
    assert torch.count_nonzero(s.grad[0]) == 0  # nothing flows into the absent sample's scores


def test_absent_modality_score_values_do_not_matter():
    s = torch.randn(1, 3, 4)
    s2 = s.clone()
    s2[0, 1] = 1e6  # acoustic absent: its scores must not leak
    mask = _mask([1, 0, 1])
    assert torch.equal(fuse(s, W, mask)[0], fuse(s2, W, mask)[0])


def test_non_finite_scores_of_an_absent_modality_do_not_leak():
    s = torch.randn(2, 3, 4)
    s[:, 2] = float("nan")  # visual absent in both samples, with garbage scores
    s[1, 2, 0] = float("inf")
    logits, contrib = fuse(s, W, _mask([1, 1, 0], [0, 1, 0]))
    assert torch.isfinite(logits).all() and torch.isfinite(contrib).all()
    assert torch.allclose(logits[1], s[1, 1] * W.sum(), atol=1e-6)
