"""EmotionEmbeddingNet: shapes, masks, the emotion set as an input, frozen E_t and the zero-shot path."""

from __future__ import annotations

import warnings

import pytest
import torch

from model.config import ModelConfig
from model.network import EmotionEmbeddingNet

B, T, K = 3, 7, 4


def _net(seed: int = 0, **kw) -> EmotionEmbeddingNet:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        input_dims={"text": 50, "acoustic": 74, "visual": 35},
        hidden={"text": 50, "acoustic": 32, "visual": 16},
        emb_dim=50,
        **kw,
    )
    return EmotionEmbeddingNet(cfg).eval()


def _inputs(seed: int = 1, b: int = B):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, T, 50, generator=g), torch.randn(b, T, 74, generator=g), torch.randn(b, T, 35, generator=g))


def _E(k: int = K, seed: int = 2):  # noqa: N802
    return torch.randn(k, 50, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def net():
    return _net()


def test_output_shapes_without_mask(net):
    out = net(*_inputs(), _E())
    assert out.logits.shape == (B, K)
    assert out.scores.shape == (B, 3, K) and out.contributions.shape == (B, 3, K)
    assert torch.allclose(out.contributions.sum(dim=1), out.logits, atol=1e-5)


def test_no_mask_equals_all_present(net):
    x = _inputs()
    a = net(*x, _E())
    b = net(*x, _E(), torch.ones(B, 3, dtype=torch.bool))
    assert torch.equal(a.logits, b.logits)


def test_masked_modality_contributes_nothing(net):
    x = _inputs()
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    out = net(*x, _E(), mask)
    assert out.logits.shape == (B, K)
    assert torch.count_nonzero(out.contributions[1, 1]) == 0
    assert torch.count_nonzero(out.contributions[2, :2]) == 0
    # visual alone: logits = visual scores x total fusion weight (3 at initialisation)
    assert torch.allclose(out.logits[2], out.scores[2, 2] * net.fusion_weights.sum(), atol=1e-5)
    # the masked modality's input no longer matters
    x2 = (x[0], x[1] + 100.0, x[2])
    assert torch.allclose(net(*x2, _E(), mask).logits[1:], out.logits[1:], atol=1e-6)


def test_fusion_weights_start_at_one(net):
    assert torch.allclose(net.fusion_weights, torch.ones(3), atol=1e-6)


def test_adding_an_emotion_keeps_the_other_scores(net):
    x = _inputs()
    E = _E()
    E5 = torch.cat([E, _E(1, seed=9)])
    a, b = net(*x, E), net(*x, E5)
    assert b.logits.shape == (B, K + 1)
    assert torch.allclose(b.logits[:, :K], a.logits, atol=1e-6)
    assert torch.allclose(b.scores[..., :K], a.scores, atol=1e-6)


def test_changing_one_embedding_changes_only_its_scores(net):
    x = _inputs()
    E = _E()
    E2 = E.clone()
    E2[2] += 0.5
    a, b = net(*x, E), net(*x, E2)
    assert not torch.allclose(a.logits[:, 2], b.logits[:, 2], atol=1e-4)
    keep = [0, 1, 3]
    assert torch.allclose(a.logits[:, keep], b.logits[:, keep], atol=1e-6)


def test_emotion_order_permutes_scores(net):
    x = _inputs()
    E = _E()
    perm = torch.tensor([3, 0, 2, 1])
    assert torch.allclose(net(*x, E[perm]).logits, net(*x, E).logits[:, perm], atol=1e-6)


def test_scores_follow_eq3(net):
    """s_t = E_t r_t (raw word vectors), s_a = f_t->a(E_t) r_a, s_v = f_t->v(E_t) r_v."""
    x = _inputs()
    E = _E()
    out = net(*x, E)
    with torch.no_grad():
        r = net.encode(*x)
        assert torch.allclose(out.scores[:, 0], r["text"] @ E.t(), atol=1e-5)
        assert torch.allclose(out.scores[:, 1], r["acoustic"] @ net.map_t2a(E).t(), atol=1e-5)
        assert torch.allclose(out.scores[:, 2], r["visual"] @ net.map_t2v(E).t(), atol=1e-5)


def test_zero_shot_emotion_is_scored_through_the_mappings(net):
    """A new emotion's acoustic score is r_a . f_t->a(e_new), with no new weights."""
    x = _inputs()
    e_new = _E(1, seed=42)[0]
    n_params = sum(p.numel() for p in net.parameters())
    out = net(*x, torch.cat([_E(), e_new[None]]))
    with torch.no_grad():
        r = net.encode(*x)
        assert torch.allclose(out.scores[:, 1, K], r["acoustic"] @ net.map_t2a(e_new), atol=1e-5)
        assert torch.allclose(out.scores[:, 2, K], r["visual"] @ net.map_t2v(e_new), atol=1e-5)
    assert sum(p.numel() for p in net.parameters()) == n_params


def test_emotion_vectors_are_frozen_but_mappings_learn():
    net = _net().train()
    E = _E().requires_grad_(True)
    out = net(*_inputs(), E)
    torch.nn.functional.binary_cross_entropy_with_logits(out.logits, torch.ones_like(out.logits)).backward()
    assert E.grad is None
    for p in (net.map_t2a.weight, net.map_t2v.weight, net.fusion_raw):
        assert p.grad is not None and p.grad.abs().sum() > 0
    for m in ("text", "acoustic", "visual"):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.encoders[m].parameters())


def test_absent_modality_gets_no_gradient():
    net = _net().train()
    mask = torch.tensor([[1, 0, 1]] * B, dtype=torch.bool)
    net(*_inputs(), _E(), mask).logits.sum().backward()
    assert net.map_t2a.weight.grad.abs().sum() == 0
    assert net.map_t2v.weight.grad.abs().sum() > 0


def test_eval_mode_is_deterministic(net):
    x = _inputs()
    assert torch.equal(net(*x, _E()).logits, net(*x, _E()).logits)


def test_batch_items_are_independent(net):
    x = _inputs()
    full = net(*x, _E()).logits
    one = net(*(t[1:2] for t in x), _E()).logits
    assert torch.allclose(full[1:2], one, atol=1e-5)


def test_single_layer_config_builds_without_dropout_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = _net(num_layers=1, dropout=0.3)
    assert net(*_inputs(), _E()).logits.shape == (B, K)


def test_input_layer_is_only_where_the_config_names_it():
    plain = _net()
    assert all(plain.encoders[m].input is None for m in ("text", "acoustic", "visual"))
    assert not any(".input." in k for k in plain.state_dict())
    cfg = ModelConfig(
        input_dims=plain.config.input_dims,
        hidden=plain.config.hidden,
        emb_dim=plain.config.emb_dim,
        input_layers={"visual": 20},
    )
    net = EmotionEmbeddingNet(cfg).train()
    assert net.encoders["visual"].input.weight.shape == (20, cfg.input_dims["visual"])
    assert net.encoders["acoustic"].input is None
    net(*_inputs(), _E()).logits.sum().backward()
    assert net.encoders["visual"].input.weight.grad.abs().sum() > 0
