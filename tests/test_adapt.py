"""The few-shot adapter: a logistic fit of one emotion's rows on frozen representations; replay sets."""

from __future__ import annotations

import numpy as np
import pytest

from model import adapt
from model.checkpoint import Checkpoint
from model.config import MODALITIES
from model.datasets import EmotionDataset
from model.metrics import roc_auc

D = {"text": 4, "acoustic": 6, "visual": 5}
W = np.ones(3, np.float32)


def _examples(n, rng, shift=None, mask=(True, True, True)):
    reps = {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in D.items()}
    if shift:
        for m, v in shift.items():
            reps[m] += v
    return adapt.Examples(reps, np.tile(np.asarray(mask, bool), (n, 1)))


def _init():
    return {m: np.zeros(d, np.float32) for m, d in D.items()}


def test_fit_learns_the_direction_that_separates_the_examples():
    rng = np.random.default_rng(0)
    direction = np.zeros(6, np.float32)
    direction[2] = 2.0
    pos = _examples(40, rng, {"acoustic": direction})
    neg = _examples(200, rng)
    fit = adapt.fit_adapter(pos, neg, _init(), W)
    assert set(fit.embeddings) == {"acoustic", "visual"}  # text is never adapted
    assert int(np.argmax(fit.embeddings["acoustic"])) == 2
    # held-out windows from the same distributions are ranked well
    tp, tn = _examples(50, rng, {"acoustic": direction}), _examples(50, rng)
    s = np.concatenate([tp.reps["acoustic"], tn.reps["acoustic"]]) @ fit.embeddings["acoustic"]
    assert roc_auc(np.r_[np.ones(50), np.zeros(50)], s) > 0.85
    assert fit.train_auc > 0.85 and fit.positives == 40 and fit.negatives == 200


def test_strong_l2_keeps_the_zero_shot_rows():
    rng = np.random.default_rng(1)
    init = {m: rng.normal(size=d).astype(np.float32) for m, d in D.items()}
    fit = adapt.fit_adapter(_examples(10, rng, {"visual": 3.0}), _examples(30, rng), init, W, l2=1e6)
    for m in ("acoustic", "visual"):
        assert np.allclose(fit.embeddings[m], init[m], atol=1e-3)
    assert fit.shift()["visual"] > 0.999


def test_the_design_is_the_fused_logit():
    rng = np.random.default_rng(2)
    ex = _examples(7, rng)
    ex.mask[0, 2] = False  # no face in the first window: its weights are rescaled
    init = {m: rng.normal(size=d) for m, d in D.items()}
    theta = np.concatenate([init["acoustic"], init["visual"]])
    X, c = adapt.design(ex, init, np.array([0.5, 1.0, 2.0]), ("acoustic", "visual"))
    from model.runtime import fuse

    scores = np.stack([ex.reps[m] @ init[m] for m in MODALITIES], axis=1)[..., None]
    logits, _ = fuse(scores.astype(np.float32), np.array([0.5, 1.0, 2.0], np.float32), ex.mask)
    assert np.allclose(X @ theta + c, logits[:, 0], atol=1e-4)


def test_the_offset_is_the_intercept_and_scores_as_the_fit_did():
    rng = np.random.default_rng(5)
    # the classes differ along acoustic dim 0 around a level far from 0: without an intercept the
    # row has to spend its norm on the level; with one, the fit finds it
    pos = _examples(60, rng, {"acoustic": np.r_[4.0, np.zeros(5)]})
    neg = _examples(60, rng, {"acoustic": np.r_[2.0, np.zeros(5)]})
    w = np.array([0.5, 1.0, 2.0])
    with_b = adapt.fit_adapter(pos, neg, _init(), w, l2=1.0)
    without = adapt.fit_adapter(pos, neg, _init(), w, l2=1.0, intercept=False)
    assert without.offset == 0.0 and adapt.OFFSET_KEY not in without.rows()
    assert with_b.offset < 0 and with_b.loss < without.loss
    rows = with_b.rows()
    assert set(rows) == {"acoustic", "visual", adapt.OFFSET_KEY}
    # adapted_logits is the fitted logit: design + offset * sum(w); a window with nothing present scores 0
    both = adapt.Examples.concat([pos, neg])
    both.mask[0] = False
    z = adapt.adapted_logits(both, rows, _init(), w)
    X, c = adapt.design(both, _init(), w, ("acoustic", "visual"))
    theta = np.concatenate([rows["acoustic"], rows["visual"]])
    expect = X @ theta + c + with_b.offset * w.sum()
    assert z[0] == 0.0 and np.allclose(z[1:], expect[1:])


def test_l2_per_modality():
    rng = np.random.default_rng(6)
    init = {m: rng.normal(size=d).astype(np.float32) for m, d in D.items()}
    pos = _examples(30, rng, {"acoustic": 2.0, "visual": 2.0})
    fit = adapt.fit_adapter(pos, _examples(30, rng), init, W, l2={"acoustic": 1e6, "visual": 1e-3})
    assert np.allclose(fit.embeddings["acoustic"], init["acoustic"], atol=1e-3)  # held at the zero-shot row
    assert not np.allclose(fit.embeddings["visual"], init["visual"], atol=0.1)
    assert fit.l2 == {"acoustic": 1e6, "visual": 1e-3}
    assert adapt.fit_adapter(pos, _examples(30, rng), init, W, l2=0.5).l2 == {"acoustic": 0.5, "visual": 0.5}
    with pytest.raises(adapt.AdaptError, match="no l2 for visual"):
        adapt.fit_adapter(pos, _examples(5, rng), init, W, l2={"acoustic": 1.0})
    with pytest.raises(adapt.AdaptError, match="finite and >= 0"):
        adapt.fit_adapter(pos, _examples(5, rng), init, W, l2=-1.0)


def test_recentre_moves_present_positives_by_the_neutral_difference():
    rng = np.random.default_rng(7)
    pos = _examples(5, rng)
    pos.mask[0, 2] = False  # no face in the first positive: its visual representation stays
    own = _examples(8, rng, {"acoustic": 1.0, "visual": 1.0})
    pop = _examples(8, rng, {"acoustic": -1.0})
    pop.mask[:, 2] = False  # the population has no visual neutral: visual is left alone
    out = adapt.recentre(pos, own, pop)
    d = pop.reps["acoustic"].mean(0) - own.reps["acoustic"].mean(0)
    assert np.allclose(out.reps["acoustic"], pos.reps["acoustic"] + d, atol=1e-5)
    assert np.array_equal(out.reps["visual"], pos.reps["visual"])
    pop.mask[:, 2] = True
    out = adapt.recentre(pos, own, pop)
    dv = pop.reps["visual"].mean(0) - own.reps["visual"].mean(0)
    assert np.array_equal(out.reps["visual"][0], pos.reps["visual"][0])
    assert np.allclose(out.reps["visual"][1:], pos.reps["visual"][1:] + dv, atol=1e-5)


def test_labelled_picks_one_emotion():
    rng = np.random.default_rng(8)
    ex = _examples(4, rng)
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 0]], float)
    got = adapt.labelled(ex, labels, ["neutral", "sad"], "neutral")
    assert len(got) == 2 and np.array_equal(got.reps["visual"], ex.reps["visual"][[0, 2]])
    assert adapt.labelled(ex, labels, ["neutral", "sad"], "fear") is None
    assert adapt.labelled(ex, labels * 0, ["neutral", "sad"], "neutral") is None


def test_bad_inputs_are_adapt_errors():
    rng = np.random.default_rng(3)
    with pytest.raises(adapt.AdaptError, match="positive and negative"):
        adapt.fit_adapter(_examples(0, rng), _examples(5, rng), _init(), W)
    text_only = _examples(5, rng, mask=(True, False, False))
    with pytest.raises(adapt.AdaptError, match="no face and no voice"):
        adapt.fit_adapter(text_only, _examples(5, rng), _init(), W)
    with pytest.raises(adapt.AdaptError, match="no windows"):
        adapt.Examples.concat([])


def test_clip_weights_give_each_clip_the_same_weight():
    w = adapt.clip_weights(["a", "a", "a", "b"])
    assert np.allclose(w, [1 / 3, 1 / 3, 1 / 3, 1.0])


def test_replay_indices_are_stratified_and_need_av():
    y = np.zeros((30, 2))
    y[:20, 0] = 1
    y[20:, 1] = 1
    mm = np.ones((30, 3), bool)
    mm[20:25, 1:] = False  # text-only windows are never replayed
    idx = adapt.replay_indices(y, None, mm, per_emotion=4, seed=0)
    assert (y[idx, 0] == 1).sum() == 4 and (y[idx, 1] == 1).sum() == 4
    assert not set(idx) & set(range(20, 25))
    assert np.array_equal(idx, adapt.replay_indices(y, None, mm, per_emotion=4, seed=0))


def test_replay_travels_in_the_checkpoint(tiny_checkpoint, tmp_path):
    ck = Checkpoint.load(tiny_checkpoint)
    assert adapt.replay_of(ck) is None
    rng = np.random.default_rng(4)
    n, T = 12, 20
    ds = EmotionDataset(
        rng.normal(size=(n, T, 50)),
        rng.normal(size=(n, T, 74)),
        rng.normal(size=(n, T, 35)),
        np.eye(2)[np.arange(n) % 2],
        ["happy", "sad"],
        name="toy",
    )
    assert adapt.attach_replay(ck, ds, per_emotion=3) == 6
    fp = adapt.checkpoint_fingerprint(ck)
    back = Checkpoint.load(ck.save(tmp_path / "r.ckpt"))
    b = adapt.replay_of(back)
    assert b.acoustic.shape == (6, T, 74) and b.modality_mask.all()
    assert back.provenance["replay"]["windows"] == 6
    assert adapt.checkpoint_fingerprint(back) == fp  # the replay does not change which adapters fit


def test_fingerprint_follows_the_weights(tiny_checkpoint):
    a, b = Checkpoint.load(tiny_checkpoint), Checkpoint.load(tiny_checkpoint)
    assert adapt.checkpoint_fingerprint(a) == adapt.checkpoint_fingerprint(b)
    b.state_dict["fusion_raw"] = np.asarray(b.state_dict["fusion_raw"]) + 1
    assert adapt.checkpoint_fingerprint(a) != adapt.checkpoint_fingerprint(b)


def test_zero_shot_rows_are_the_mapped_vector(tiny_checkpoint):
    from model.inference import Predictor

    ck = Checkpoint.load(tiny_checkpoint)
    pred = Predictor(ck)
    rows = adapt.zero_shot_rows(pred, ck.vector_of("sad"))
    E = pred.emotion_embeddings(["sad"])
    for m in MODALITIES:
        assert np.allclose(rows[m], E[m][0])


def test_a_checkpoint_carries_its_own_few_shot_l2_else_the_default(tiny_checkpoint, tmp_path):
    ck = Checkpoint.load(tiny_checkpoint)
    assert adapt.checkpoint_l2(ck) == adapt.DEFAULT_L2  # none stored: the library default
    ck.provenance[adapt.FEW_SHOT_KEY] = {"l2": {"acoustic": 0.03, "visual": 0.1}}
    ck.save(tmp_path / "fs.ckpt")
    again = Checkpoint.load(tmp_path / "fs.ckpt")
    assert adapt.checkpoint_l2(again) == {"acoustic": 0.03, "visual": 0.1}
    assert adapt.checkpoint_fingerprint(again) == adapt.checkpoint_fingerprint(Checkpoint.load(tiny_checkpoint))
    for bad in ({"l2": {"acoustic": 0.03}}, {"l2": {"acoustic": -1.0, "visual": 0.1}}, {"l2": "strong"}, "x"):
        ck.provenance[adapt.FEW_SHOT_KEY] = bad
        assert adapt.checkpoint_l2(ck) == adapt.DEFAULT_L2  # incomplete or invalid: the default
