"""Group-disjoint, seeded splits by a dataset's groups."""

from __future__ import annotations

import numpy as np
import pytest

from model.datasets import EmotionDataset
from recipes.splits import assert_disjoint, holdout, leave_one_out, sample_labels


def _ds():
    """3 corpora; 'a' 10 speakers, 'b' 4, 'c' 1; every speaker says each of 2 emotions twice."""
    spk, cor, lab = [], [], []
    for c, n in (("a", 10), ("b", 4), ("c", 1)):
        for s in range(n):
            for e in (0, 1, 0, 1):
                spk.append(f"{c}:{s}")
                cor.append(c)
                lab.append(e)
    n = len(spk)
    y = np.eye(2, dtype=np.float32)[lab]
    z = np.ones((n, 2, 3), np.float32)
    return EmotionDataset(
        z, z, z, y, ["x", "y"], groups={"speaker": spk, "corpus": cor, "clip": [str(i) for i in range(n)]}
    )


def test_holdout_is_speaker_disjoint_per_corpus_and_deterministic():
    ds = _ds()
    tr, te = holdout(ds, "speaker", 0.2, seed=0, within="corpus")
    assert_disjoint(ds, "speaker", tr, te)
    assert len(tr) + len(te) == len(ds) and not set(tr) & set(te)
    held = set(ds.group("speaker")[te])
    assert sum(s.startswith("a:") for s in held) == 2 and sum(s.startswith("b:") for s in held) == 1
    assert not any(s.startswith("c:") for s in held)  # a lone speaker stays in training
    tr2, te2 = holdout(ds, "speaker", 0.2, seed=0, within="corpus")
    assert np.array_equal(te, te2)
    others = [set(ds.group("speaker")[holdout(ds, "speaker", 0.2, seed=s, within="corpus")[1]]) for s in range(1, 6)]
    assert any(o != held for o in others)


def test_a_corpus_split_does_not_depend_on_the_other_corpora():
    ds = _ds()
    only_a = ds.subset(np.flatnonzero(ds.group("corpus") == "a"))
    full = set(ds.group("speaker")[holdout(ds, "speaker", 0.3, seed=4, within="corpus")[1]])
    alone = set(only_a.group("speaker")[holdout(only_a, "speaker", 0.3, seed=4, within="corpus")[1]])
    assert {s for s in full if s.startswith("a:")} == alone


def test_holdout_by_label_holds_out_every_label_of_every_stratum():
    ds = _ds()
    tr, te = holdout(ds, "clip", 0.25, seed=1, within="corpus", by_label=True)
    lab, cor = sample_labels(ds), ds.group("corpus")
    for c in ("a", "b", "c"):
        for e in ("x", "y"):
            n = np.sum((cor == c) & (lab == e))
            assert np.sum((cor[te] == c) & (lab[te] == e)) == max(1, round(0.25 * n))


def test_leave_one_out_folds_cover_each_value_once():
    ds = _ds()
    folds = leave_one_out(ds, "corpus")
    assert [f[0] for f in folds] == ["a", "b", "c"]
    for v, tr, te in folds:
        assert set(ds.group("corpus")[te]) == {v} and v not in set(ds.group("corpus")[tr])
        assert len(tr) + len(te) == len(ds)


def test_bad_arguments_and_overlap_are_reported():
    ds = _ds()
    with pytest.raises(ValueError, match="fraction"):
        holdout(ds, "speaker", 1.0)
    with pytest.raises(KeyError, match="no 'photo' grouping"):
        holdout(ds, "photo", 0.2)
    with pytest.raises(ValueError, match="both sides"):
        assert_disjoint(ds, "speaker", np.array([0]), np.array([1]))
