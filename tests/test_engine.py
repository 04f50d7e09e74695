"""livemer.engine: smoothing maths, modality cycling, the engine on a tiny checkpoint."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from livemer.engine import (
    MODALITY_CYCLE,
    Engine,
    EngineConfig,
    InferenceResult,
    Smoother,
    modality_letters,
    next_modalities,
    smooth,
)
from livemer.errors import LivemerError

from conftest import SIX, make_checkpoint

# --------------------------------------------------------------------------- smooth


def test_smooth_without_previous_or_time_constant_returns_new():
    new = np.array([0.2, 0.8])
    assert np.allclose(smooth(None, new, 0.1, 1.0), new)
    assert np.allclose(smooth(np.array([0.9, 0.1]), new, 0.1, 0.0), new)


def test_smooth_after_one_time_constant_moves_1_minus_1_over_e():
    out = smooth(np.array([0.0, 1.0]), np.array([1.0, 0.0]), dt=2.0, tau=2.0)
    a = 1 - math.exp(-1)
    assert np.allclose(out, [a, 1 - a])


def test_smooth_is_monotone_in_dt_and_converges():
    prev, new = np.array([0.1]), np.array([0.9])
    vals = [smooth(prev, new, dt, 1.0)[0] for dt in (0.0, 0.1, 0.5, 2.0, 50.0)]
    assert vals[0] == pytest.approx(0.1)
    assert all(a < b for a, b in zip(vals, vals[1:]))
    assert vals[-1] == pytest.approx(0.9)


def test_smooth_composes_over_steps():
    # two steps of dt equal one step of 2*dt (exponential smoothing of a constant input)
    prev, new = np.array([0.0]), np.array([1.0])
    two = smooth(smooth(prev, new, 0.3, 1.0), new, 0.3, 1.0)
    one = smooth(prev, new, 0.6, 1.0)
    assert np.allclose(two, one)


def test_smooth_nan_handling_and_negative_dt():
    prev = np.array([0.5, np.nan, 0.2])
    new = np.array([np.nan, 0.7, 0.4])
    out = smooth(prev, new, 0.5, 1.0)
    assert out[0] == pytest.approx(0.5)  # no new value: keep the previous one
    assert out[1] == pytest.approx(0.7)  # no previous value: take the new one
    assert 0.2 < out[2] < 0.4
    assert np.allclose(smooth(np.array([0.3]), np.array([0.9]), -1.0, 1.0), [0.3])


def test_smooth_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        smooth(np.zeros(2), np.zeros(3), 0.1, 1.0)


def test_smoother_follows_names_when_an_emotion_is_added():
    sm = Smoother(tau=1.0)
    first = sm.update(["a", "b"], np.array([0.0, 1.0]), t=0.0)
    assert np.allclose(first, [0.0, 1.0])
    out = sm.update(["a", "b", "c"], np.array([1.0, 0.0, 0.6]), t=1.0)
    a = 1 - math.exp(-1)
    assert np.allclose(out, [a, 1 - a, 0.6])  # the new name starts at its raw value
    sm.reset()
    assert np.allclose(sm.update(["a"], np.array([0.4]), t=5.0), [0.4])


# --------------------------------------------------------------------------- modalities


def test_modality_cycle_visits_every_subset_and_wraps():
    seen = []
    cur = "tav"
    for _ in range(len(MODALITY_CYCLE)):
        seen.append(cur)
        cur = next_modalities(cur)
    assert cur == "tav"
    assert sorted(seen) == sorted(MODALITY_CYCLE)
    assert next_modalities("vt") == next_modalities("tv")
    assert next_modalities("zz") == MODALITY_CYCLE[0]
    assert modality_letters(("visual", "text")) == "tv"


# --------------------------------------------------------------------------- engine


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return Engine(EngineConfig(checkpoint=tiny_checkpoint, smoothing_tau=0.0))


def _visual_window(engine, valid=True, t_end=2.0):
    al = engine.new_aligner(t0=0.0)
    n = 20
    rng = np.random.default_rng(0)
    al.add_visual(np.linspace(0, t_end - 0.05, n), rng.normal(size=(n, engine.dims[2])), np.full(n, valid))
    return al.window(t_end)


def test_engine_loads_checkpoint_emotions_and_dims(engine):
    assert engine.emotions == SIX
    assert engine.user_added == set()
    assert engine.dims == (50, 74, 35)
    assert engine.modalities == ("text", "acoustic", "visual")
    assert set(engine.running_spaces()) >= {"text"}


def test_infer_uses_only_the_modalities_present_in_the_data(engine):
    res = engine.infer(_visual_window(engine), 2.0, transcript="", face_present=True)
    assert res.modalities_used == ("visual",)
    assert set(res.modality_scores) == {"visual"}
    assert np.all((res.probabilities > 0) & (res.probabilities < 1))
    # the contributions of the used modality sum to the logit: sigmoid(sum) = probability
    logit = sum(v for v in res.contributions.values())
    assert np.allclose(1 / (1 + np.exp(-logit)), res.probabilities, atol=1e-5)


def test_no_valid_frame_means_no_modality_and_no_probability(engine):
    res = engine.infer(_visual_window(engine, valid=False), 2.0)
    assert res.modalities_used == ()
    assert np.all(np.isnan(res.probabilities))
    d = res.to_json_dict()
    assert all(v is None for v in d["emotions"].values())
    json.dumps(d, allow_nan=False)  # valid strict JSON
    assert d["top"] is None


def test_to_json_dict_fields(engine):
    res = engine.infer(
        _visual_window(engine), 2.0, transcript="hello there", face_present=True, voice_present=False, fps=12.5
    )
    d = json.loads(json.dumps(res.to_json_dict(), allow_nan=False))
    for key in (
        "timestamp",
        "t",
        "window",
        "emotions",
        "modality_scores",
        "transcript",
        "face_present",
        "fps",
        "latency",
        "modalities_used",
        "contributions",
        "raw",
    ):
        assert key in d
    assert list(d["emotions"]) == SIX
    assert d["transcript"] == "hello there"
    assert d["face_present"] is True and d["voice_present"] is False
    assert d["voice"] == "no speech"
    assert d["window"][0] <= d["window"][1] <= 2.0
    assert d["top"] == max(d["emotions"], key=d["emotions"].get)


def test_voice_field_says_speech_or_why_not(engine):
    why = "no speech detected (noise, music or other sound)"
    d = engine.infer(_visual_window(engine), 2.0, voice_present=False, voice_reason=why).to_json_dict()
    assert d["voice"] == why
    d = engine.infer(_visual_window(engine), 2.0, voice_present=True, voice_reason=why).to_json_dict()
    assert d["voice"] == "speech"
    assert engine.describe()["speech_gate"] == "silero"


def test_switching_modalities_masks_them(tiny_checkpoint):
    eng = Engine(EngineConfig(checkpoint=tiny_checkpoint, modalities="ta", smoothing_tau=0.0))
    res = eng.infer(_visual_window(eng), 2.0)
    assert res.modalities_used == ()  # only visual data, but visual is off
    assert eng.cycle_modalities() == ("text", "visual")
    res = eng.infer(_visual_window(eng), 2.0)
    assert res.modalities_used == ("visual",)
    with pytest.raises(LivemerError):
        eng.set_modalities("xyz")


def test_bad_modalities_and_emotions_are_one_line_errors(tiny_checkpoint):
    with pytest.raises(LivemerError, match="letters"):
        Engine(EngineConfig(checkpoint=tiny_checkpoint, modalities="q"))
    with pytest.raises(Exception) as ei:
        Engine(EngineConfig(checkpoint=tiny_checkpoint, emotions="happy,xqzvbnm"))
    assert "xqzvbnm" in str(ei.value) and "\n" not in str(ei.value)


def test_add_emotion_live_is_scored_marked_and_saved(tiny_checkpoint):
    from livemer.registry import Registry

    eng = Engine(EngineConfig(checkpoint=tiny_checkpoint, smoothing_tau=0.0))
    name = eng.add_emotion("Bored")
    assert name == "bored"
    assert eng.emotions == SIX + ["bored"]
    assert eng.user_added == {"bored"}
    res = eng.infer(_visual_window(eng), 2.0)
    assert res.emotions[-1] == "bored" and res.user_added == ["bored"]
    assert np.isfinite(res.probabilities[-1])
    assert Registry().get("bored") is not None
    # a later engine picks it up from the registry
    eng2 = Engine(EngineConfig(checkpoint=tiny_checkpoint))
    assert "bored" in eng2.emotions and "bored" in eng2.user_added
    # adding a trained word again changes nothing
    assert eng.add_emotion("happy") == "happy" and eng.emotions.count("happy") == 1
    with pytest.raises(LivemerError, match="nearest known words"):
        eng.add_emotion("hapyy")
    with pytest.raises(LivemerError):
        eng.add_emotion("two words")


@pytest.mark.slow
def test_smoothing_in_infer(tiny_checkpoint):
    eng = Engine(EngineConfig(checkpoint=tiny_checkpoint, smoothing_tau=10.0))
    w1 = _visual_window(eng)
    al = eng.new_aligner(t0=0.0)
    al.add_visual(np.linspace(0, 1.95, 20), np.full((20, 35), 5.0), np.ones(20, bool))
    w2 = al.window(2.0)
    r1 = eng.infer(w1, 1.0)
    r2 = eng.infer(w2, 1.1)
    # raw results differ; smoothed ones barely move with a 10 s time constant after 0.1 s
    assert not np.allclose(r1.probabilities, r2.probabilities)
    a = 1 - math.exp(-0.1 / 10.0)
    assert np.allclose(r2.smoothed, r1.smoothed + a * (r2.probabilities - r1.smoothed))


@pytest.mark.slow
def test_checkpoint_with_another_feature_space_is_refused(tmp_path):
    from feature_adapters.spaces import FeatureSpace
    from model.checkpoint import Checkpoint, CheckpointError

    p = tmp_path / "other.ckpt"
    ck = make_checkpoint(p)
    ck.feature_spaces["text"] = FeatureSpace("word2vec-50", 50)
    ck.save(p)
    with pytest.raises((CheckpointError, LivemerError)) as ei:
        Engine(EngineConfig(checkpoint=p))
    msg = str(ei.value)
    assert "\n" not in msg and ("word2vec-50" in msg or "glove" in msg)
    assert Checkpoint.load(p).feature_spaces["text"].name == "word2vec-50"


def test_missing_checkpoint_is_a_one_line_error(tmp_path):
    from model.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="not found"):
        Engine(EngineConfig(checkpoint=tmp_path / "nope.ckpt"))


def test_result_ranking_helpers():
    r = InferenceResult(
        t=1.0,
        window_start=0.0,
        window_end=1.0,
        emotions=["a", "b", "c"],
        probabilities=np.array([0.2, np.nan, 0.7]),
        smoothed=np.array([0.2, np.nan, 0.7]),
        modality_scores={},
        contributions={},
        modalities_used=("text",),
        modalities_requested=("text",),
    )
    assert r.top() == ("c", pytest.approx(0.7))
    assert [n for n, _ in r.ranked()] == ["c", "a", "b"]
