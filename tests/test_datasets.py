"""EmotionDataset: masks derived from padding, sanitising, subsets, label sets, concat, normalisation."""

from __future__ import annotations

import re

import numpy as np
import pytest

from model.datasets import DatasetShapeError, EmotionDataset, concat, fit_normalization, observed_steps, pad_or_crop
from model.normalize import NormStats


def make(n=4, t=5, dims=(3, 4, 2), emotions=("a", "b"), seed=0, lengths=None, name="d"):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(n, t, d)).astype(np.float32) + 1.0 for d in dims]
    lengths = lengths if lengths is not None else [t - (i % 3) for i in range(n)]
    for x in xs:
        for i, L in enumerate(lengths):
            x[i, : t - L] = 0.0  # padding in front
    y = (rng.random((n, len(emotions))) < 0.5).astype(np.float32)
    return EmotionDataset(xs[0], xs[1], xs[2], y, list(emotions), name=name)


def test_masks_follow_front_padding_and_missing_modalities():
    ds = make(n=3, t=5, lengths=[5, 3, 1])
    assert ds.step_masks["text"].tolist() == [[True] * 5, [False, False, True, True, True], [False] * 4 + [True]]
    # a sample whose visual stream is all zero has no visual modality
    v = ds.visual.copy()
    v[1] = 0.0
    ds2 = EmotionDataset(ds.text, ds.acoustic, v, ds.labels, ds.emotions)
    assert ds2.modality_mask.tolist() == [[True, True, True], [True, True, False], [True, True, True]]
    assert ds2.label_mask.all() and ds2.ids == ["0", "1", "2"]


def test_non_finite_features_become_zero():
    ds = make(n=2, t=3)
    a = ds.acoustic.copy()
    a[0, 1, 0] = -np.inf
    a[1, 2, 1] = np.nan
    a[1, 2, 2] = np.inf
    d = EmotionDataset(ds.text, a, ds.visual, ds.labels, ds.emotions)
    assert np.isfinite(d.acoustic).all()
    assert d.acoustic[0, 1, 0] == 0 and d.acoustic[1, 2, 1] == 0 and d.acoustic[1, 2, 2] == 0
    assert d.acoustic[0, 1, 1] == a[0, 1, 1]


@pytest.mark.parametrize(
    "change, msg",
    [
        (lambda k: k.update(labels=np.zeros((4, 3))), "labels must be (N, K)"),
        (lambda k: k.update(acoustic=np.zeros((3, 5, 4))), "acoustic features are (3, 5)"),
        (lambda k: k.update(visual=np.zeros((4, 5))), "visual features must be (N, T, d)"),
        (lambda k: k.update(ids=["x"]), "1 ids for 4 samples"),
        (lambda k: k.update(emotions=["a", "a"]), "duplicate emotion words"),
        (lambda k: k.update(label_mask=np.ones((4, 1), bool)), "label mask must be (4, 2)"),
    ],
)
def test_inconsistent_arrays_are_rejected(change, msg):
    ds = make()
    kw = dict(text=ds.text, acoustic=ds.acoustic, visual=ds.visual, labels=ds.labels, emotions=ds.emotions)
    change(kw)
    with pytest.raises(DatasetShapeError, match=re.escape(msg)):
        EmotionDataset(**kw)


def test_subset_keeps_every_array_in_step():
    ds = make(n=6)
    sub = ds.subset([4, 1])
    assert sub.ids == ["4", "1"]
    assert np.array_equal(sub.text[0], ds.text[4]) and np.array_equal(sub.labels[1], ds.labels[1])
    assert np.array_equal(sub.step_masks["visual"][0], ds.step_masks["visual"][4])
    mask = np.zeros(6, bool)
    mask[[0, 5]] = True
    assert ds.subset(mask).ids == ["0", "5"]


def test_select_emotions_reorders_and_marks_unknown_as_unannotated():
    ds = make(emotions=("a", "b"))
    sel = ds.select_emotions(["b", "z", "a"])
    assert sel.emotions == ["b", "z", "a"]
    assert np.array_equal(sel.labels[:, 0], ds.labels[:, 1]) and np.array_equal(sel.labels[:, 2], ds.labels[:, 0])
    assert not sel.label_mask[:, 1].any() and sel.label_mask[:, [0, 2]].all()


def test_positives_respect_label_mask():
    ds = make(n=4, emotions=("a",))
    y = np.array([[1], [1], [0], [1]], np.float32)
    lm = np.array([[True], [False], [True], [True]])
    d = EmotionDataset(ds.text, ds.acoustic, ds.visual, y, ["a"], label_mask=lm)
    assert d.positives("a").tolist() == [0, 3]
    assert d.negatives("a").tolist() == [2]
    assert d.label_counts() == {"a": (2, 3)}
    with pytest.raises(KeyError, match="no emotion 'q'"):
        d.positives("q")


def test_concat_unions_label_sets_and_masks_what_a_corpus_lacks():
    a = make(n=3, emotions=("happy", "sad"), name="A")
    b = make(n=2, emotions=("sad", "calm"), seed=1, name="B")
    c = concat([a, b])
    assert c.emotions == ["happy", "sad", "calm"]
    assert len(c) == 5 and c.name == "A+B"
    assert c.label_mask[:3].tolist() == [[True, True, False]] * 3
    assert c.label_mask[3:].tolist() == [[False, True, True]] * 2
    assert np.array_equal(c.labels[3:, 1], b.labels[:, 0])
    with pytest.raises(DatasetShapeError, match="cannot concatenate"):
        concat([a, make(n=2, t=7)])


def test_groups_follow_subsets_copies_and_concat():
    from dataclasses import replace

    a = replace(make(n=3, name="A"), groups={"speaker": ["s1", "s2", "s1"], "corpus": ["x"] * 3})
    assert a.group("speaker").tolist() == ["s1", "s2", "s1"]
    assert a.subset([2, 1]).group("speaker").tolist() == ["s1", "s2"]
    assert a.with_modalities(["text"]).group("corpus").tolist() == ["x"] * 3
    b = replace(make(n=2, name="B"), groups={"speaker": ["long-speaker-id", "t"]})
    c = concat([a, b])
    assert c.group("speaker").tolist() == ["s1", "s2", "s1", "long-speaker-id", "t"]
    assert c.group("corpus").tolist() == ["x", "x", "x", "", ""]  # B has no corpus grouping
    assert make().groups == {}
    with pytest.raises(KeyError, match="no 'speaker' grouping"):
        make().group("speaker")
    with pytest.raises(DatasetShapeError, match="group 'speaker' has 2 ids for 3 samples"):
        replace(a, groups={"speaker": ["s1", "s2"]})


def test_normalisation_fits_on_observed_steps_only_and_keeps_padding_zero():
    ds = make(n=50, t=6, seed=3)
    stats = fit_normalization(ds)
    assert set(stats) == {"acoustic", "visual"}
    obs = ds.acoustic[ds.step_masks["acoustic"]]
    assert np.allclose(stats["acoustic"].mean, obs.mean(axis=0), atol=1e-5)
    nd = ds.normalized(stats)
    z = nd.acoustic[ds.step_masks["acoustic"]]
    assert np.allclose(z.mean(axis=0), 0, atol=1e-4) and np.allclose(z.std(axis=0), 1, atol=1e-3)
    assert not nd.acoustic[~ds.step_masks["acoustic"]].any()
    assert nd.text is ds.text  # word vectors are not normalised (and not copied)


def test_with_modalities_masks_without_deleting():
    ds = make()
    d = ds.with_modalities(("text",))
    assert d.modality_mask[:, 0].all() and not d.modality_mask[:, 1:].any()
    assert np.array_equal(d.acoustic, ds.acoustic)


def test_rename_emotions():
    ds = make(emotions=("a", "b"))
    assert ds.rename_emotions(["x", "y"]).emotions == ["x", "y"]
    assert ds.rename_emotions({"b": "bee"}).emotions == ["a", "bee"]
    with pytest.raises(ValueError, match="1 emotion words given for 2 label columns"):
        ds.rename_emotions(["x"])


def test_pad_or_crop_keeps_the_last_steps_padded_in_front():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    out, m = pad_or_crop(x, 4)
    assert np.array_equal(out, x[-4:]) and m.all()
    out, m = pad_or_crop(x[:2], 4)
    assert np.array_equal(out[2:], x[:2]) and not out[:2].any() and m.tolist() == [False, False, True, True]
    out, m = pad_or_crop(np.zeros((0, 2)), 3)
    assert out.shape == (3, 2) and not m.any()


def test_observed_steps():
    x = np.zeros((1, 3, 2), np.float32)
    x[0, 2, 1] = 0.5
    assert observed_steps(x).tolist() == [[False, False, True]]


def test_normalized_with_identity_stats_is_clip_only():
    ds = make()
    nd = ds.normalized({"acoustic": NormStats.identity(4)})
    m = ds.step_masks["acoustic"]
    assert np.allclose(nd.acoustic[m], np.clip(ds.acoustic[m], -10, 10))
