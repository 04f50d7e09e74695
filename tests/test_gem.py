"""GEM: the closed-form single-constraint projection and its guarantee on a real training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import ModelConfig
from model.gem import assign_flat_grad, flat_grad, project_gradient
from model.network import EmotionEmbeddingNet
from model.presets import TrainHParams
from model.training import TensorData, Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_projection_leaves_agreeing_gradients_alone():
    g = torch.tensor([1.0, 2.0, 0.0])
    gm = torch.tensor([1.0, 0.0, 0.0])
    out, projected = project_gradient(g, gm)
    assert not projected and torch.equal(out, g)


@pytest.mark.slow
def test_projection_is_the_closest_non_opposing_vector():
    torch.manual_seed(0)
    for _ in range(20):
        g, gm = torch.randn(10, dtype=torch.float64), torch.randn(10, dtype=torch.float64)
        if torch.dot(g, gm) >= 0:
            g = -g
        z, projected = project_gradient(g, gm)
        assert projected
        assert abs(float(torch.dot(z, gm))) < 1e-10  # exactly on the constraint boundary
        d = z - g  # the correction is along g_mem only (closest point)
        assert float(torch.linalg.norm(d - torch.dot(d, gm) / torch.dot(gm, gm) * gm)) < 1e-10
        # any other feasible point on the boundary is farther from g
        other = z + 0.1 * torch.linalg.svd(torch.stack([gm, torch.randn(10, dtype=torch.float64)])).Vh[1]
        if torch.dot(other, gm) >= -1e-12:
            assert torch.linalg.norm(other - g) >= torch.linalg.norm(z - g) - 1e-12


def test_margin_pushes_past_the_boundary():
    g = torch.tensor([-1.0, 1.0])
    gm = torch.tensor([1.0, 0.0])
    z, _ = project_gradient(g, gm, margin=0.5)
    assert torch.allclose(z, torch.tensor([0.0, 1.0]))  # the exact projection already needs v = 1 > 0.5
    z, _ = project_gradient(torch.tensor([-0.2, 1.0]), gm, margin=0.5)
    assert float(torch.dot(z, gm)) == pytest.approx(0.3)


def test_flat_grad_round_trip():
    net = torch.nn.Linear(3, 2)
    params = list(net.parameters())
    assert flat_grad(params).abs().sum() == 0  # no gradients yet -> zeros
    net(torch.randn(4, 3)).sum().backward()
    g = flat_grad(params)
    assert g.numel() == 3 * 2 + 2
    assign_flat_grad(params, g * 2)
    assert torch.allclose(flat_grad(params), 2 * g)
    with pytest.raises(ValueError):
        assign_flat_grad(params, torch.zeros(3))


def _conflicting_task(seed=0, n=16, K=3):
    """A memory batch and a 'new task' batch with the same inputs but opposite labels on emotion 0."""
    g = torch.Generator().manual_seed(seed)
    x = tuple(torch.randn(n, 5, d, generator=g, dtype=torch.float64) for d in (6, 4, 3))
    y = (torch.rand(n, K, generator=g) < 0.5).double()
    full = torch.ones(n, 3, dtype=torch.bool)
    mem = TensorData(*x, full, y, torch.ones(n, K, dtype=torch.bool), ["a", "b", "c"])
    y_new = y.clone()
    y_new[:, 0] = 1 - y[:, 0]
    lm = torch.zeros(n, K, dtype=torch.bool)
    lm[:, 0] = True
    new = TensorData(*x, full, y_new, lm, ["a", "b", "c"])
    return mem, new


def _trainer(margin: float, lr: float = 0.01):
    torch.manual_seed(0)
    cfg = ModelConfig(
        input_dims={"text": 6, "acoustic": 4, "visual": 3},
        hidden={"text": 6, "acoustic": 5, "visual": 4},
        emb_dim=6,
        num_layers=1,
        dropout=0.0,
    )
    net = EmotionEmbeddingNet(cfg).double()  # float64: the margin-0 check compares tiny loss changes
    E = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    hp = TrainHParams(optimizer="sgd", lr=lr, clip=0.0, gem_margin=margin, dropout=0.0)
    return Trainer(net, E, hp, progress=False, log=lambda s: None)


@pytest.mark.slow
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_gem_step_does_not_raise_memory_loss_where_fine_tuning_does(margin):
    mem, new = _conflicting_task()
    ft, gem = _trainer(margin), _trainer(margin)
    assert all(torch.equal(a, b) for a, b in zip(ft.net.state_dict().values(), gem.net.state_dict().values()))
    with torch.no_grad():
        before = float(ft.loss(mem))
    ft.step(new)
    _, projected = gem.gem_step(new, mem)
    with torch.no_grad():
        after_ft = float(ft.loss(mem))
        after_gem = float(gem.loss(mem))
    assert projected  # the new-task gradient opposed the memory gradient
    assert after_ft > before + 1e-5  # plain fine-tuning raises the memory loss
    if margin > 0:
        assert after_gem < before  # with a margin the memory loss strictly falls
    else:
        assert after_gem - before <= 0.01 * (after_ft - before)  # only a second-order change at the boundary
    # and the new task still makes progress under GEM
    with torch.no_grad():
        assert float(gem.loss(new)) < float(_trainer(margin).loss(new))
