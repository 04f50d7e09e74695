"""The numpy forward pass equals the torch network; its fusion maths equals model.fusion's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import fusion, runtime
from model.config import ModelConfig
from model.network import EmotionEmbeddingNet
from model.runtime import NumpyEmotionNet, expected_shapes


def _net(seed: int, dims=(50, 74, 35), hidden=(50, 24, 12), layers=2, pooling="last") -> EmotionEmbeddingNet:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        input_dims=dict(zip(("text", "acoustic", "visual"), dims)),
        hidden=dict(zip(("text", "acoustic", "visual"), hidden)),
        emb_dim=hidden[0],
        num_layers=layers,
        pooling=pooling,
    )
    net = EmotionEmbeddingNet(cfg).eval()
    with torch.no_grad():  # non-trivial fusion weights and biases, so every term matters
        net.fusion_raw.copy_(torch.randn(3))
        for name, p in net.named_parameters():
            if "bias" in name:
                p.add_(0.3 * torch.randn_like(p))
    return net


def _numpy_of(net: EmotionEmbeddingNet) -> NumpyEmotionNet:
    return NumpyEmotionNet.from_state_dict(net.config, {k: v.numpy() for k, v in net.state_dict().items()})


CASES = [  # seed, dims, hidden, layers, B, T, K
    (0, (50, 74, 35), (50, 24, 12), 2, 1, 20, 6),
    (1, (50, 74, 35), (50, 24, 12), 2, 5, 7, 1),
    (2, (8, 6, 5), (8, 10, 3), 1, 4, 3, 9),
    (3, (12, 7, 9), (12, 5, 6), 3, 3, 1, 4),
    (4, (16, 74, 35), (16, 40, 20), 2, 6, 12, 0),
]


@pytest.mark.parametrize("seed, dims, hidden, layers, B, T, K", CASES)
def test_numpy_equals_torch(seed, dims, hidden, layers, B, T, K):
    net = _net(seed, dims, hidden, layers)
    rt = _numpy_of(net)
    g = torch.Generator().manual_seed(100 + seed)
    xs = [torch.randn(B, T, d, generator=g) * 2 for d in dims]
    E = torch.randn(K, hidden[0], generator=g)
    mask = torch.rand(B, 3, generator=g) > 0.4
    mask[0] = True
    if B > 2:
        mask[1] = False  # no modality at all
    with torch.no_grad():
        want = net(*xs, E, mask)
        reps = net.encode(*xs)
    got = rt.forward(*(x.numpy() for x in xs), E.numpy(), mask.numpy())
    for field in ("logits", "scores", "contributions"):
        a, b = getattr(got, field), getattr(want, field).numpy()
        assert a.dtype == np.float32 and a.shape == b.shape, field
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0, err_msg=field)
    for m, r in rt.encode(*(x.numpy() for x in xs)).items():
        np.testing.assert_allclose(r, reps[m].numpy(), atol=1e-5, rtol=0, err_msg=m)
    np.testing.assert_allclose(rt.fusion_weights, net.fusion_weights.detach().numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("pooling", ["last", "ends", "mean"])
@pytest.mark.parametrize("layers", [1, 2])
def test_numpy_equals_torch_for_every_pooling_with_front_padding(pooling, layers):
    net = _net(7, layers=layers, pooling=pooling)
    rt = _numpy_of(net)
    g = torch.Generator().manual_seed(3)
    B, T = 5, 9
    xs = [torch.randn(B, T, d, generator=g) for d in (50, 74, 35)]
    for i, pad in enumerate((0, 3, 8, 9, 1)):  # row 3: nothing observed
        for x in xs:
            x[i, :pad] = 0.0
    xs[1][4, 5] = 0.0  # an unobserved step inside the sequence
    E = torch.randn(4, 50, generator=g)
    with torch.no_grad():
        want = net(*xs, E)
        reps = net.encode(*xs)
    got = rt.forward(*(x.numpy() for x in xs), E.numpy())
    np.testing.assert_allclose(got.logits, want.logits.numpy(), atol=1e-5, rtol=0)
    for m, r in rt.encode(*(x.numpy() for x in xs)).items():
        np.testing.assert_allclose(r, reps[m].numpy(), atol=1e-5, rtol=0, err_msg=m)


def test_pooling_ends_reads_the_whole_sequence_in_both_directions():
    """'last': the backward half sees the last step only; 'ends': it reads back to the first observed step,
    and padding in front never changes the representation of the observed steps' backward read."""
    from model.network import pool_outputs

    out = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6)  # B 2, T 4, H 3
    observed = torch.tensor([[False, True, True, True], [False, False, False, False]])
    last = pool_outputs(out, observed, 3, "last")
    ends = pool_outputs(out, observed, 3, "ends")
    mean = pool_outputs(out, observed, 3, "mean")
    np.testing.assert_allclose(last[0].numpy(), (out[0, -1, :3] + out[0, -1, 3:]).numpy())
    np.testing.assert_allclose(ends[0].numpy(), (out[0, -1, :3] + out[0, 1, 3:]).numpy())
    np.testing.assert_allclose(ends[1].numpy(), (out[1, -1, :3] + out[1, 0, 3:]).numpy())  # none observed: step 0
    np.testing.assert_allclose(mean[0].numpy(), (out[0, 1:, :3] + out[0, 1:, 3:]).mean(0).numpy())
    np.testing.assert_allclose(mean[1].numpy(), (out[1, :, :3] + out[1, :, 3:]).mean(0).numpy())
    for p in ("last", "ends", "mean"):
        np.testing.assert_allclose(
            runtime.pool_outputs(out[..., :3].numpy(), out[..., 3:].numpy(), observed.numpy(), p),
            pool_outputs(out, observed, 3, p).numpy(),
        )
    rt = _numpy_of(_net(8, pooling="ends"))
    x = np.random.default_rng(2).normal(size=(1, 6, 74)).astype(np.float32)
    x[0, :2] = 0.0
    x2 = x.copy()
    x2[0, 2] += 1.0  # the first observed step: only the forward state and the backward end read it
    r = rt.encoders["acoustic"]
    assert np.abs(r(x2) - r(x)).max() > 1e-4


def test_pooling_is_in_the_config_and_old_configs_read_as_last():
    d = ModelConfig().to_dict()
    assert d["pooling"] == "last"
    d.pop("pooling")
    assert ModelConfig.from_dict(d).pooling == "last"
    assert ModelConfig.from_dict({**d, "pooling": "ends"}).pooling == "ends"
    with pytest.raises(ValueError, match="unknown pooling"):
        ModelConfig(pooling="max")


def test_default_mask_is_all_present_and_batch_rows_are_independent():
    net = _net(5)
    rt = _numpy_of(net)
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(3, 8, d)).astype(np.float32) for d in (50, 74, 35)]
    E = rng.normal(size=(4, 50)).astype(np.float32)
    full = rt.forward(*xs, E)
    np.testing.assert_allclose(full.logits, rt.forward(*xs, E, np.ones((3, 3), bool)).logits, atol=0)
    one = rt.forward(*(x[1:2] for x in xs), E)
    np.testing.assert_allclose(one.logits[0], full.logits[1], atol=1e-6)
    np.testing.assert_allclose(full.contributions.sum(axis=1), full.logits, atol=1e-5)


def test_padding_in_front_matters_only_through_the_lstm_state():
    """The last step is the representation: changing only the final step changes it, the front is remembered."""
    rt = _numpy_of(_net(6))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 6, 74)).astype(np.float32)
    r0 = rt.encoders["acoustic"](x)
    x2 = x.copy()
    x2[0, 0] += 1.0
    x3 = x.copy()
    x3[0, -1] += 1.0
    assert not np.allclose(rt.encoders["acoustic"](x2), r0)
    assert np.abs(rt.encoders["acoustic"](x3) - r0).max() > np.abs(rt.encoders["acoustic"](x2) - r0).max()


@pytest.mark.parametrize("seed", range(4))
def test_fusion_maths_equals_model_fusion(seed):
    rng = np.random.default_rng(seed)
    B, K = 7, 5
    w = np.log1p(np.exp(rng.normal(size=3))).astype(np.float32)
    mask = rng.random((B, 3)) > 0.5
    mask[0] = False
    scores = rng.normal(size=(B, 3, K)).astype(np.float32)
    scores[~mask] = np.nan  # absent modalities' scores must not leak
    r, E = rng.normal(size=(B, 8)).astype(np.float32), rng.normal(size=(K, 8)).astype(np.float32)
    tw, tm, ts = torch.from_numpy(w), torch.from_numpy(mask), torch.from_numpy(scores)
    np.testing.assert_allclose(runtime.effective_weights(w, mask), fusion.effective_weights(tw, tm).numpy(), atol=1e-6)
    got_l, got_c = runtime.fuse(scores, w, mask)
    want_l, want_c = fusion.fuse(ts, tw, tm)
    assert np.isfinite(got_l).all()
    np.testing.assert_allclose(got_l, want_l.numpy(), atol=1e-6)
    np.testing.assert_allclose(got_c, want_c.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        runtime.modality_scores(r, E),
        fusion.modality_scores(torch.from_numpy(r), torch.from_numpy(E)).numpy(),
        atol=1e-5,
    )
    weff = runtime.effective_weights(w, mask)
    present = mask.any(axis=1)
    np.testing.assert_allclose(weff[present].sum(axis=1), w.sum(), rtol=1e-6)
    assert (weff[~mask] == 0).all() and (weff[~present] == 0).all()


def test_softplus_and_sigmoid_match_torch():
    x = np.array([-100, -30, -5, -0.1, 0, 0.1, 5, 19.9, 20, 20.1, 50, 100], np.float32)
    np.testing.assert_allclose(
        runtime.softplus(x), torch.nn.functional.softplus(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-7
    )
    with np.errstate(all="raise"):
        np.testing.assert_allclose(runtime.sigmoid(x), torch.sigmoid(torch.from_numpy(x)).numpy(), atol=1e-7)


def test_expected_shapes_are_the_networks():
    net = _net(7, layers=3)
    assert expected_shapes(net.config) == {k: tuple(v.shape) for k, v in net.state_dict().items()}


def test_bad_state_dicts_give_one_line_errors():
    net = _net(8)
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    missing = dict(sd)
    missing.pop("map_t2a.bias")
    with pytest.raises(ValueError, match="missing map_t2a.bias") as ei:
        NumpyEmotionNet.from_state_dict(net.config, missing)
    assert "\n" not in str(ei.value)
    extra = dict(sd, extra=np.zeros(3))
    with pytest.raises(ValueError, match="unexpected extra"):
        NumpyEmotionNet.from_state_dict(net.config, extra)
    bad = dict(sd)
    bad["encoders.visual.lstm.weight_hh_l1"] = np.zeros((4, 4))
    with pytest.raises(ValueError, match=r"weight_hh_l1 is \(4, 4\), expected \(48, 12\)"):
        NumpyEmotionNet.from_state_dict(net.config, bad)


def test_fp16_weights_and_torch_tensors_are_accepted():
    net = _net(9)
    half = {k: v.half().numpy() for k, v in net.state_dict().items()}
    from_half = NumpyEmotionNet.from_state_dict(net.config, half)
    from_tensors = NumpyEmotionNet.from_state_dict(net.config, {k: v.half() for k, v in net.state_dict().items()})
    assert from_half.encoders["text"].layers[0][0].w_ih_t.dtype == np.float32
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=(2, 5, d)).astype(np.float32) for d in (50, 74, 35)]
    E = rng.normal(size=(3, 50)).astype(np.float32)
    np.testing.assert_array_equal(from_half.forward(*xs, E).logits, from_tensors.forward(*xs, E).logits)


def test_numpy_runtime_matches_torch_with_zero_shot_composition():
    import torch

    from model.config import ModelConfig
    from model.network import EmotionEmbeddingNet
    from model.runtime import NumpyEmotionNet

    torch.manual_seed(0)
    cfg = ModelConfig(
        input_dims={"text": 6, "acoustic": 5, "visual": 4},
        hidden={"text": 6, "acoustic": 7, "visual": 3},
        emb_dim=6,
        zero_shot={"method": "compose", "beta": 5.0, "anchors": {"acoustic": 3, "visual": 2}},
    )
    net = EmotionEmbeddingNet(cfg).eval()
    rng = np.random.default_rng(0)
    E = rng.normal(size=(5, 6)).astype(np.float32)
    before = net.emotion_embeddings(torch.from_numpy(E))["acoustic"].detach().numpy()
    net.set_zero_shot({"acoustic": E[:3], "visual": E[[0, 4]]}, np.eye(6))
    embs = {m: v.detach().numpy() for m, v in net.emotion_embeddings(torch.from_numpy(E)).items()}
    assert np.allclose(embs["acoustic"][:3], before[:3], atol=1e-6)  # anchors map as before
    assert not np.allclose(embs["acoustic"][3:], before[3:], atol=1e-3)  # new words are composed
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    rt = NumpyEmotionNet.from_state_dict(cfg, sd)
    x = [rng.normal(size=(2, 4, d)).astype(np.float32) for d in (6, 5, 4)]
    with torch.no_grad():
        want = net(*[torch.from_numpy(a) for a in x], torch.from_numpy(E)).logits.numpy()
    got = rt(*x, E).logits
    assert np.allclose(got, want, atol=1e-5)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_numpy_runtime_matches_torch_with_a_visual_input_layer():
    torch.manual_seed(7)
    cfg = ModelConfig(
        input_dims={"text": 8, "acoustic": 6, "visual": 87},
        hidden={"text": 8, "acoustic": 5, "visual": 4},
        emb_dim=8,
        input_layers={"visual": 16},
    )
    net = EmotionEmbeddingNet(cfg).eval()
    with torch.no_grad():
        net.encoders["visual"].input.bias.add_(0.5)  # some units on, some off: the ReLU matters
    assert set(expected_shapes(cfg)) == set(net.state_dict())
    assert expected_shapes(cfg)["encoders.visual.input.weight"] == (16, 87)
    rt = _numpy_of(net)
    g = torch.Generator().manual_seed(8)
    xs = [torch.randn(3, 5, d, generator=g) for d in (8, 6, 87)]
    E = torch.randn(4, 8, generator=g)
    with torch.no_grad():
        want = net(*xs, E).logits.numpy()
        pre = net.encoders["visual"].input(xs[2])
    assert (pre > 0).any() and (pre < 0).any()
    np.testing.assert_allclose(rt.forward(*(x.numpy() for x in xs), E.numpy()).logits, want, atol=1e-5, rtol=0)


def test_numpy_runtime_matches_torch_with_the_affect_rule_and_text_anchors():
    import torch

    from model.config import ModelConfig
    from model.network import EmotionEmbeddingNet
    from model.runtime import NumpyEmotionNet

    torch.manual_seed(1)
    zs = {
        "method": "affect",
        "version": 2,
        "beta": 1.0,
        "beta_affect": 20.0,
        "axes": 2,
        "ridge": 0.05,
        "anchors": {"acoustic": 3, "visual": 2, "text": 4},
    }
    cfg = ModelConfig(
        input_dims={"text": 6, "acoustic": 5, "visual": 4},
        hidden={"text": 6, "acoustic": 7, "visual": 3},
        emb_dim=6,
        zero_shot=zs,
    )
    net = EmotionEmbeddingNet(cfg).eval()
    rng = np.random.default_rng(1)
    E = rng.normal(size=(6, 6)).astype(np.float32)
    axes = rng.normal(size=(2, 6)).astype(np.float32)
    with pytest.raises(ValueError, match="axes given"):
        net.set_zero_shot({"acoustic": E[:3], "visual": E[[0, 4]], "text": E[:4]}, np.eye(6))
    net.set_zero_shot({"acoustic": E[:3], "visual": E[[0, 4]], "text": E[:4]}, np.eye(6), axes)
    embs = {m: v.detach().numpy() for m, v in net.emotion_embeddings(torch.from_numpy(E)).items()}
    assert np.allclose(embs["text"][:4], E[:4], atol=1e-6)  # text anchors keep their own vectors
    assert not np.allclose(embs["text"][4:], E[4:], atol=1e-3)  # a new word's text row is composed
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    assert sd["zsl_axes"].shape == (2, 6)
    rt = NumpyEmotionNet.from_state_dict(cfg, sd)
    x = [rng.normal(size=(2, 4, d)).astype(np.float32) for d in (6, 5, 4)]
    with torch.no_grad():
        want = net(*[torch.from_numpy(a) for a in x], torch.from_numpy(E)).logits.numpy()
    assert np.allclose(rt(*x, E).logits, want, atol=1e-5)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
