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


def test_neutral_windows_are_stored_beside_and_checked_against_the_checkpoint(tiny_checkpoint, tmp_path):
    from feature_adapters.windows import Window

    ck = Checkpoint.load(tiny_checkpoint)
    dims = ck.config.input_dims
    T = 20
    rng = np.random.default_rng(0)
    real = np.ones(T, bool)
    starts = np.arange(T) * 0.1

    def win(d_a):
        return Window(
            np.zeros((T, dims["text"]), np.float32),
            rng.normal(size=(T, d_a)).astype(np.float32),
            rng.normal(size=(T, dims["visual"])).astype(np.float32),
            starts,
            starts + 0.1,
            real,
            np.zeros(T, bool),
            real,
            real,
            words=[None] * T,
        )

    p = tmp_path / "calibration.json"
    assert b.load_neutral_windows(ck, p) is None  # none stored
    b.save_neutral_windows([win(dims["acoustic"]) for _ in range(3)], p)
    got = b.load_neutral_windows(ck, p)
    assert got.acoustic.shape == (3, T, dims["acoustic"]) and got.step_masks["visual"].all()
    b.save_neutral_windows([win(dims["acoustic"] + 1)], p)  # another acoustic space: not used with this checkpoint
    assert b.load_neutral_windows(ck, p) is None
    b.save_neutral_windows([], p)  # a baseline without windows removes the older ones (they would not match)
    assert not b.neutral_windows_path(p).exists()
    b.save_neutral_windows([win(dims["acoustic"])], p)
    b.save_baseline({"acoustic": np.zeros(dims["acoustic"])}, {}, 1.0, 1, p)
    b.neutral_windows_path(p).write_bytes(b"not an npz")
    assert b.load_neutral_windows(ck, p) is None  # unreadable: ignored
    assert b.clear_baseline(p) and not b.neutral_windows_path(p).exists()
