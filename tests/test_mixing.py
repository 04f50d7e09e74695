"""Corpus mixing: single-corpus batches, per-corpus label masks, oversampling, cursors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.datasets import EmotionDataset, concat
from model.normalize import NormStats
from recipes.mixing import MixingError, MixSchedule, MixSource, _Cursor, epoch_plan, normalise_sources, train_mixture


def _ds(n, emotions, text_only=False, seed=0, name="d", signal=None, offset=0):
    rng = np.random.default_rng(seed)
    T = 4
    y = np.zeros((n, len(emotions)), np.float32)
    y[np.arange(n), rng.integers(0, len(emotions), n)] = 1
    text = rng.normal(size=(n, T, 5)).astype(np.float32)
    if signal is not None:  # make the label readable from the text
        text[:, :, offset : offset + len(emotions)] += 3 * y[:, None, :]
    if text_only:
        a = np.zeros((n, T, 3), np.float32)
        v = np.zeros((n, T, 2), np.float32)
    else:
        a = rng.normal(size=(n, T, 3)).astype(np.float32)
        v = rng.normal(size=(n, T, 2)).astype(np.float32)
    return EmotionDataset(text, a, v, y, list(emotions), name=name)


def test_cursor_covers_everything_before_repeating():
    c = _Cursor(10, seed=0, salt=1)
    first = np.concatenate([c.take(3) for _ in range(3)] + [c.take(1)])
    assert sorted(first.tolist()) == list(range(10))
    assert len(c.take(25)) == 25


def test_plan_is_single_corpus_and_oversamples():
    small = _ds(10, ["a", "b"], name="small")
    big = _ds(100, ["c", "d"], text_only=True, name="big")
    words = ["a", "b", "c", "d"]
    sources = [
        MixSource("small", small.select_emotions(words), repeat=3),
        MixSource("big", big.select_emotions(words), per_epoch=20),
    ]
    cursors = {1: _Cursor(100, 0, 1)}
    plan = epoch_plan(sources, 8, seed=0, epoch=1, cursors=cursors)
    per_source = {0: 0, 1: 0}
    for si, idx in plan:
        per_source[si] += len(idx)
        assert idx.max() < len(sources[si].data)
    assert per_source == {0: 30, 1: 20}
    again = epoch_plan(sources, 8, seed=0, epoch=2, cursors=cursors)
    seen_big = np.concatenate([i for s, i in plan + again if s == 1])
    assert len(set(seen_big.tolist())) == 40  # the cursor continues, no repeats within 100


def test_mixed_labels_never_cross_corpora():
    """A sample is only scored on its own corpus's labels: the loss ignores other corpora's columns."""
    a = _ds(8, ["x"], name="A")
    b = _ds(8, ["y"], text_only=True, name="B")
    both = concat([a, b])
    assert both.label_mask[:8].tolist() == [[True, False]] * 8
    assert both.label_mask[8:].tolist() == [[False, True]] * 8


@pytest.mark.slow
def test_training_learns_and_is_reproducible():
    words = ["a", "b", "c"]
    mm = _ds(60, ["a", "b"], seed=1, signal=True, name="mm")
    tx = _ds(200, ["b", "c"], text_only=True, seed=2, signal=True, name="tx", offset=1)

    def run(seed):
        torch.manual_seed(seed)
        net = torch.nn.Linear(5, 3)
        seen_shapes = []

        def fwd(t, a, v, m):
            seen_shapes.append((tuple(a.shape), bool(m[:, 1].any())))
            return net(t.mean(dim=1))

        srcs = [
            MixSource("mm", mm.select_emotions(words), repeat=2),
            MixSource("tx", tx.select_emotions(words), per_epoch=64),
        ]
        hist = train_mixture(net, fwd, srcs, MixSchedule(epochs=6, batch_size=16, lr=0.1, seed=seed))
        return net, hist, seen_shapes

    net, hist, shapes = run(0)
    first = hist.epochs[0]["loss"]["tx"]
    last = hist.epochs[-1]["loss"]["tx"]
    assert last < first * 0.5
    # text-only batches pass absent modalities as one-step zero tensors
    assert any(s[0][1] == 1 and not s[1] for s in shapes)
    assert hist.samples_seen == {"mm": 6 * 120, "tx": 6 * 64}
    _, hist2, _ = run(0)
    assert hist2.epochs[-1]["loss"] == hist.epochs[-1]["loss"]


def test_mismatched_label_sets_rejected():
    a = _ds(4, ["a"])
    b = _ds(4, ["b"])
    with pytest.raises(MixingError, match="labels"):
        train_mixture(
            torch.nn.Linear(1, 1), lambda *x: None, [MixSource("a", a), MixSource("b", b)], MixSchedule(epochs=1)
        )
    with pytest.raises(MixingError, match="no samples"):
        MixSource("empty", a.subset([]))


def test_normalise_only_present_modalities():
    mm = _ds(6, ["a"], name="mm")
    tx = _ds(6, ["a"], text_only=True, name="tx")
    st = {
        "acoustic": NormStats(np.full(3, 5.0, np.float32), np.ones(3, np.float32)),
        "visual": NormStats(np.zeros(2, np.float32), np.full(2, 2.0, np.float32)),
    }
    n_mm, n_tx = normalise_sources([mm, tx], st)
    np.testing.assert_allclose(n_mm.acoustic, np.clip(mm.acoustic - 5.0, -10, 10), rtol=1e-5)
    assert not n_tx.acoustic.any() and not n_tx.visual.any()
    np.testing.assert_array_equal(n_mm.text, mm.text)  # text is never normalised


def test_balanced_pos_weight_and_weighted_loss():
    from model.training import masked_bce
    from recipes.mixing import balanced_pos_weight

    y = np.zeros((10, 3), np.float32)
    y[:2, 0] = 1  # 2 positives, 8 negatives -> 4
    y[:, 1] = 1  # no negatives -> 1
    lm = np.ones((10, 3), bool)
    lm[:, 2] = False  # unannotated -> 1
    ds = EmotionDataset(
        np.ones((10, 2, 1), np.float32),
        np.ones((10, 2, 1), np.float32),
        np.ones((10, 2, 1), np.float32),
        y,
        ["a", "b", "c"],
        label_mask=lm,
    )
    np.testing.assert_allclose(balanced_pos_weight(ds), [4.0, 1.0, 1.0])
    np.testing.assert_allclose(balanced_pos_weight(ds, power=0.5), [2.0, 1.0, 1.0])
    np.testing.assert_allclose(balanced_pos_weight(ds, cap=3.0), [3.0, 1.0, 1.0])
    logits = torch.zeros(10, 3)
    plain = masked_bce(logits, torch.from_numpy(y), torch.from_numpy(lm))
    weighted = masked_bce(logits, torch.from_numpy(y), torch.from_numpy(lm), balanced_pos_weight(ds))
    # column a: (2 * 4 + 8) * ln2, column b: 10 * ln2, over 20 annotated entries
    assert float(plain) == pytest.approx(np.log(2))
    assert float(weighted) == pytest.approx((16 + 10) / 20 * np.log(2), rel=1e-5)


def test_a_source_batch_size_overrides_the_schedules():
    a = MixSource("a", _ds(40, ["x", "y"], name="a"))
    b = MixSource("b", _ds(40, ["x", "y"], name="b"), batch_size=16)
    plan = epoch_plan([a, b], 8, seed=0, epoch=1, cursors={})
    sizes = {si: [len(i) for s, i in plan if s == si] for si in (0, 1)}
    assert sorted(sizes[0]) == [8] * 5 and sorted(sizes[1]) == [8, 16, 16]
    with pytest.raises(MixingError, match="batch_size"):
        MixSource("c", a.data, batch_size=0)


def test_modality_parameters_are_the_encoders_by_name():
    from recipes.mixing import modality_parameters

    net = torch.nn.ModuleDict(
        {"encoders": torch.nn.ModuleDict({"acoustic": torch.nn.Linear(3, 2), "visual": torch.nn.Linear(2, 2)})}
    )
    net["encoders"]["acoustic"].bias.requires_grad_(False)
    got = modality_parameters(net, ["acoustic", "text"])
    assert [id(p) for p in got["acoustic"]] == [id(net["encoders"]["acoustic"].weight)]  # frozen ones left out
    assert got["text"] == []


def _two_encoder_net(acoustic_dim=5):
    torch.manual_seed(0)
    return torch.nn.ModuleDict(
        {"encoders": torch.nn.ModuleDict({"acoustic": torch.nn.Linear(acoustic_dim, 2), "text": torch.nn.Linear(5, 2)})}
    )


def _train_two(net, sources, l2):
    def fwd(t, a, v, m):
        e = net["encoders"]
        return e["acoustic"](a.mean(dim=1)) * m[:, 1:2] + e["text"](t.mean(dim=1))

    sched = MixSchedule(epochs=4, batch_size=16, lr=0.05, l2_by_modality=l2)
    train_mixture(net, fwd, sources, sched)
    return net


def test_a_modalitys_l2_shrinks_only_its_encoder():
    mm = _ds(64, ["a", "b"], seed=3, signal=True, name="mm")
    mm = EmotionDataset(mm.text, mm.text.copy(), mm.visual, mm.labels, mm.emotions, name="mm")  # voice = the signal
    plain = _train_two(_two_encoder_net(), [MixSource("mm", mm)], ())
    pen = _train_two(_two_encoder_net(), [MixSource("mm", mm)], (("acoustic", 10.0),))
    a = float(pen["encoders"]["acoustic"].weight.norm() / plain["encoders"]["acoustic"].weight.norm())
    t = float(pen["encoders"]["text"].weight.norm() / plain["encoders"]["text"].weight.norm())
    assert a < 0.6 and t > 0.9


def test_a_modalitys_l2_leaves_its_encoder_alone_on_batches_without_it():
    """Text-only batches give the acoustic encoder no data gradient, and no penalty either: it does not move."""
    tx = _ds(64, ["a", "b"], text_only=True, seed=4, signal=True, name="tx")
    net = _two_encoder_net(acoustic_dim=3)
    before = net["encoders"]["acoustic"].weight.detach().clone()
    _train_two(net, [MixSource("tx", tx)], (("acoustic", 10.0),))
    assert torch.equal(net["encoders"]["acoustic"].weight.detach(), before)


def test_offset_noise_moves_every_observed_step_of_a_sample_alike_and_leaves_padding():
    from recipes.mixing import with_offset

    x = torch.ones(3, 4, 5)
    x[:, :2] = 0.0  # padding in front
    x[1, 3] = 0.0  # an unobserved step
    y = with_offset(x, 0.5, torch.Generator().manual_seed(0))
    d = y - x
    assert torch.equal(d[:, :2], torch.zeros(3, 2, 5)) and torch.equal(d[1, 3], torch.zeros(5))
    assert torch.allclose(d[0, 2], d[0, 3]) and not torch.allclose(d[0, 2], d[2, 2])  # one offset per sample


def test_offset_noise_is_applied_only_to_sources_with_the_modality():
    tx = _ds(40, ["a", "b"], text_only=True, seed=5, signal=True, name="tx")
    seen = []

    def fwd(t, a, v, m):
        seen.append(float(a.abs().sum()))
        return t.mean(dim=1)[:, :2] * 0 + net(t.mean(dim=1))

    net = torch.nn.Linear(5, 2)
    train_mixture(
        net, fwd, [MixSource("tx", tx)], MixSchedule(epochs=1, batch_size=8, offset_noise=(("acoustic", 1.0),))
    )
    assert seen and max(seen) == 0.0  # text-only batches' acoustic placeholder stays zero


def _train_linear(ema_epochs):
    tx = _ds(64, ["a", "b"], text_only=True, seed=6, signal=True, name="tx")
    torch.manual_seed(0)
    net = torch.nn.Linear(5, 2)
    weights = []

    def fwd(t, a, v, m):
        return net(t.mean(dim=1))

    def record(epoch, n):
        weights.append(n.weight.detach().clone())
        return {}

    sched = MixSchedule(epochs=3, batch_size=8, lr=0.05, ema_epochs=ema_epochs)
    train_mixture(net, fwd, [MixSource("tx", tx)], sched, on_epoch=record, eval_every=1)
    return net, weights


def test_ema_weights_are_the_average_and_the_last_evaluation_sees_them():
    raw, raw_seen = _train_linear(0.0)
    same, _ = _train_linear(1e-6)  # a horizon under one step: the average is the last weights
    assert torch.allclose(same.weight, raw.weight)
    avg, seen = _train_linear(1.0)
    assert not torch.allclose(avg.weight, raw.weight)
    assert torch.equal(seen[0], raw_seen[0])  # evaluations before the last see the raw weights (same trajectory)
    assert torch.equal(seen[-1], avg.weight.detach())  # the last one sees the average
    # the average lies between the start and the end of training
    torch.manual_seed(0)
    start = torch.nn.Linear(5, 2).weight.detach()
    assert (avg.weight - raw.weight).norm() < (start - raw.weight).norm()
