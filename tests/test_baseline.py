"""The stored per-user baseline: atomic save, load, unreadable files, shifts for a checkpoint."""

from __future__ import annotations

import numpy as np

from livemer import baseline as b
from model.checkpoint import Checkpoint


def test_save_load_and_clear(tmp_path):
    p = tmp_path / "calibration.json"
    b.save_baseline({"acoustic": np.arange(74.0)}, {"acoustic": "covarep-74"}, 10.0, 48, p)
    doc, note = b.load_baseline(p)
    assert note is None and doc["windows"] == 48 and np.allclose(doc["means"]["acoustic"], np.arange(74.0))
    assert list(tmp_path.iterdir()) == [p]  # no temp file left
    assert b.clear_baseline(p) and not p.exists() and not b.clear_baseline(p)
    assert b.load_baseline(p) == (None, None)


def test_unreadable_baseline_is_a_note(tmp_path):
    p = tmp_path / "calibration.json"
    p.write_text("{not json")
    doc, note = b.load_baseline(p)
    assert doc is None and "unreadable" in note


def test_shift_for_a_checkpoint_checks_the_space(tiny_checkpoint, tmp_path):
    ck = Checkpoint.load(tiny_checkpoint)
    a_space = ck.feature_spaces["acoustic"].name
    base = {
        "means": {"acoustic": np.full(74, 2.0), "visual": np.ones(35)},
        "spaces": {"acoustic": a_space, "visual": "some-other-face-space"},
    }
    shift, notes = b.shift_for(ck, base)
    assert set(shift) == {"acoustic"} and np.allclose(shift["acoustic"], 2.0 - ck.normalization["acoustic"].mean)
    assert len(notes) == 1 and "visual baseline is in another feature space" in notes[0]
