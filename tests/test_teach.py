"""Teaching from examples (livemer.teach): spans, collecting windows, the fit against negatives, storage."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from feature_adapters.windows import Window
from livemer import teach
from livemer.errors import LivemerError
from livemer.registry import Registry
from model.checkpoint import Checkpoint
from model.inference import Predictor

T = 20


def _window(rng, end: float, visual_shift: float = 0.0, acoustic=True, visual=True) -> Window:
    real = np.ones(T, bool)
    starts = end - (T - np.arange(T)) * 0.1

    def feats(d, on, shift=0.0):
        x = (rng.normal(size=(T, d)) + shift).astype(np.float32)
        x[~(real & on)] = 0
        return x, real & on

    t, tm = feats(50, False)
    a, am = feats(74, acoustic)
    v, vm = feats(35, visual, visual_shift)
    return Window(t, a, v, starts, starts + 0.1, real, tm, am, vm, words=[None] * T)


@pytest.fixture()
def engine(tiny_checkpoint, tmp_path):
    ck = Checkpoint.load(tiny_checkpoint)
    return SimpleNamespace(checkpoint=ck, predictor=Predictor(ck), registry=Registry(tmp_path / "emotions.json"))


def _reader(clips: dict):
    """A reader of ``clips``: path name -> (windows, ends, duration, notes) or an exception."""

    def fake(path, progress=None):
        got = clips[path.name]
        if isinstance(got, Exception):
            raise got
        return got

    return fake


def test_parse_span_and_spans_for():
    assert teach.parse_span("1.5-4") == (1.5, 4.0)
    for bad in ("4-1", "abc", "1-", "-3"):
        with pytest.raises(LivemerError, match="--span"):
            teach.parse_span(bad)
    assert teach.spans_for(["a", "b"], None) == [None, None]
    assert teach.spans_for(["a", "b"], ["0-2"]) == [(0.0, 2.0)] * 2
    assert teach.spans_for(["a", "b"], ["0-2", "1-3"]) == [(0.0, 2.0), (1.0, 3.0)]
    with pytest.raises(LivemerError, match="2 --span values for 3"):
        teach.spans_for(["a", "b", "c"], ["0-2", "1-3"])


def test_in_span_needs_context_and_stays_inside():
    ends = np.arange(0.2, 5.01, 0.2)
    sel = teach.in_span(ends, None, 5.0)
    assert ends[sel].min() == pytest.approx(1.0) and ends[sel].max() == pytest.approx(5.0)
    sel = teach.in_span(ends, (2.0, 3.0), 5.0)
    assert ends[sel].min() == pytest.approx(3.0) and ends[sel].max() == pytest.approx(3.0)
    sel = teach.in_span(ends, (2.0, 2.4), 5.0)  # shorter than the context: its last window
    assert list(np.round(ends[sel], 1)) == [2.4]


def test_collect_keeps_span_windows_and_warns_about_bad_clips(engine, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    for n in ("a.wav", "silent.wav", "broken.wav"):
        (tmp_path / n).write_bytes(b"x")
    ends = np.arange(0.2, 3.01, 0.2)
    reader = _reader(
        {
            "a.wav": ([_window(rng, e) for e in ends], ends, 3.0, []),
            "silent.wav": (
                [_window(rng, e, acoustic=False, visual=False) for e in ends],
                ends,
                3.0,
                ["no face and no voice found"],
            ),
            "broken.wav": LivemerError("broken.wav: not a media file"),
        }
    )
    outside = teach.WindowSet()
    got = teach.collect(
        reader, [tmp_path / "a.wav", tmp_path / "silent.wav", tmp_path / "broken.wav"], ["0-2"], outside=outside
    )
    assert got.clips == 1 and len(got) == 6  # ends 1.0, 1.2 ... 2.0: 1 s into the span, not past it
    assert got.groups == [str(tmp_path / "a.wav")] * 6
    assert any("silent.wav: no usable example window (no face and no voice found)" in w for w in got.warnings)
    assert any("not a media file" in w for w in got.warnings)
    assert len(outside) > 0 and outside.clips == 1
    with pytest.raises(LivemerError, match="nope.wav: no such file"):
        teach.collect(reader, [tmp_path / "nope.wav"], None)


def _positives(rng, n_clips=4, per=6, shift=2.0):
    ws = teach.WindowSet()
    for c in range(n_clips):
        for k in range(per):
            ws.windows.append(_window(rng, 1.0 + 0.2 * k, visual_shift=shift))
            ws.groups.append(f"clip{c}")
        ws.clips += 1
    return ws


def test_fit_needs_negatives_then_learns_and_stores(engine, monkeypatch):
    rng = np.random.default_rng(1)
    vec = engine.checkpoint.vector_of("sad") * 0 + 0.1  # any 50-d vector
    pos = _positives(rng)
    with pytest.raises(LivemerError, match="nothing to contrast 'calm' with.*--negatives"):
        teach.fit_from_windows(engine, "calm", vec, pos)
    negs = [_window(rng, 1.0) for _ in range(30)]
    res = teach.fit_from_windows(engine, "calm", vec, pos, extra_negatives=[("--negatives", negs)])
    a = res.adaptation
    assert a["examples"] == 4 and a["windows"] == 24 and a["negatives"] == 30
    assert a["negative_sources"] == {"--negatives": 30}
    assert a["train_auc"] > 0.9  # the visual shift separates them
    teach.store(engine.registry, res, "calm", "glove-6B-50d", vec, pos)
    entry = Registry(engine.registry.path).get("calm")
    assert entry.adaptation["checkpoint"] == a["checkpoint"]
    assert teach.windows_path(engine.registry, "calm").exists()
    # the next taught emotion can use calm's windows as negatives
    res2 = teach.fit_from_windows(engine, "bored", vec, _positives(rng, shift=-2.0))
    assert res2.negative_sources == {"taught 'calm'": 24}
    # loading: the adapter fits this checkpoint, not another
    rows, notes = teach.usable_adaptations(engine.checkpoint, [entry])
    assert set(rows["calm"]) == {"acoustic", "visual", "offset"} and notes == []
    assert np.isclose(rows["calm"]["offset"][0], a["offset"]) and set(a["l2"]) == {"acoustic", "visual"}
    other = Checkpoint.load(engine.checkpoint.path)
    other.state_dict["fusion_raw"] = np.asarray(other.state_dict["fusion_raw"]) + 1
    rows, notes = teach.usable_adaptations(other, [entry])
    assert rows == {} and "adapted for another checkpoint" in notes[0]
    teach.forget(engine.registry, "calm")
    assert not teach.windows_path(engine.registry, "calm").exists()


def test_too_few_examples_and_few_clips(engine):
    rng = np.random.default_rng(2)
    vec = np.full(50, 0.1, np.float32)
    with pytest.raises(LivemerError, match="too few examples of 'calm': 2 usable window"):
        teach.fit_from_windows(engine, "calm", vec, _positives(rng, n_clips=1, per=2))
    res = teach.fit_from_windows(
        engine,
        "calm",
        vec,
        _positives(rng, n_clips=1, per=5),
        extra_negatives=[("--negatives", [_window(rng, 1.0) for _ in range(5)])],
    )
    assert any("only 1 usable clip" in w for w in res.warnings)


def test_a_failed_registry_write_leaves_no_windows(engine, monkeypatch):
    rng = np.random.default_rng(3)
    vec = np.full(50, 0.1, np.float32)
    pos = _positives(rng)
    res = teach.fit_from_windows(engine, "calm", vec, pos, extra_negatives=[("n", [_window(rng, 1.0)] * 4)])

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(engine.registry, "add", boom)
    with pytest.raises(OSError):
        teach.store(engine.registry, res, "calm", "glove-6B-50d", vec, pos)
    assert not teach.windows_path(engine.registry, "calm").exists()
    assert engine.registry.get("calm") is None


def test_replay_negatives_come_from_the_checkpoint(engine):
    from model.adapt import attach_replay
    from model.datasets import EmotionDataset

    rng = np.random.default_rng(4)
    n = 10
    ds = EmotionDataset(
        rng.normal(size=(n, T, 50)),
        rng.normal(size=(n, T, 74)),
        rng.normal(size=(n, T, 35)),
        np.eye(2)[np.arange(n) % 2],
        ["happy", "sad"],
    )
    attach_replay(engine.checkpoint, ds, per_emotion=5)
    res = teach.fit_from_windows(engine, "calm", np.full(50, 0.1, np.float32), _positives(rng))
    assert res.negative_sources == {"replay of trained emotions": 10}


@pytest.mark.slow
def test_add_emotion_from_real_clips_end_to_end(shared_dir, tiny_checkpoint, tmp_path, monkeypatch, capsys):
    """RAVDESS calm clips of one actor through the whole file-mode path, angry clips as --negatives."""
    from livemer.cli import main

    monkeypatch.setenv("LIVEMER_CONFIG_DIR", str(tmp_path / "cfg"))
    a = shared_dir / "data" / "ravdess" / "audio16k" / "Actor_01"
    calm = sorted(a.glob("03-01-02-02-0*-0*-01.flac"))[:3]
    angry = sorted(a.glob("03-01-05-02-0*-0*-01.flac"))[:3]
    assert len(calm) == 3 and len(angry) == 3
    code = main(
        [
            "add-emotion",
            "calm",
            "--checkpoint",
            str(tiny_checkpoint),
            "--examples",
            *map(str, calm),
            "--negatives",
            *map(str, angry),
        ]
    )
    cap = capsys.readouterr()
    out = cap.out
    assert code == 0 and "adapted 'calm' from 3 clip(s)" in out and "calm - text:" in out
    assert "no stored neutral baseline" in cap.err  # this fresh user never calibrated
    entry = Registry(tmp_path / "cfg" / "emotions.json").get("calm")
    assert entry.adaptation["examples"] == 3 and entry.adaptation["negative_sources"]["--negatives"] > 0
    assert main(["emotions", "--checkpoint", str(tiny_checkpoint)]) == 0
    assert "adapted from 3 example clip(s)" in capsys.readouterr().out
    assert main(["emotions", "remove", "calm"]) == 0
    assert "and its adaptation" in capsys.readouterr().out
    assert not teach.windows_path(Registry(tmp_path / "cfg" / "emotions.json"), "calm").exists()


def test_a_calibrated_users_examples_are_recentred_on_their_neutral(engine):
    """With a calibration and a checkpoint whose few_shot asks for it, the positives move by (replay neutral -
    the user's neutral) mean representation before the fit; without the user's neutral windows they do not,
    with a note."""
    from model.adapt import attach_replay
    from model.datasets import EmotionDataset

    rng = np.random.default_rng(6)
    n = 12
    ds = EmotionDataset(
        rng.normal(size=(n, T, 50)),
        rng.normal(size=(n, T, 74)),
        rng.normal(size=(n, T, 35)),
        np.eye(2)[np.arange(n) % 2],
        ["neutral", "sad"],
    )
    ck = engine.checkpoint
    attach_replay(ck, ds, per_emotion=6)
    vec = np.full(50, 0.1, np.float32)
    pos = _positives(rng)
    plain = teach.fit_from_windows(engine, "calm", vec, pos)
    assert plain.adaptation["recentred"] is False  # not calibrated
    ck.provenance["few_shot"] = {"l2": {"acoustic": 0.01, "visual": 0.1}, "recentre": True}
    engine.predictor.set_calibration({"visual": np.zeros(35, np.float32)})
    neutral = teach.batch_from_arrays(teach.windows_arrays([_window(rng, 1.0, visual_shift=3.0) for _ in range(8)]))
    moved = teach.fit_from_windows(engine, "calm", vec, pos, neutral=neutral)
    assert moved.adaptation["recentred"] is True and not moved.warnings[1:]
    assert not np.allclose(moved.adaptation["embeddings"]["visual"], plain.adaptation["embeddings"]["visual"])
    none = teach.fit_from_windows(engine, "calm", vec, pos)  # no stored neutral windows for this user
    assert none.adaptation["recentred"] is False and any("not re-centred" in w for w in none.warnings)
    engine.predictor.set_calibration(None)
