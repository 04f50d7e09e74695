"""Predictor on windows: typed results, missing modalities, emotion sets, the zero-shot path and both backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from feature_adapters.windows import Window
from model.checkpoint import Checkpoint
from model.inference import EmotionPrediction, Predictor, batch_windows, parse_modalities

from conftest import SIX

T = 20


def _window(seed: int = 0, text=True, acoustic=True, visual=True, pad: int = 5) -> Window:
    rng = np.random.default_rng(seed)
    real = np.arange(T) >= pad  # padding in front

    def feats(d, on):
        x = rng.normal(size=(T, d)).astype(np.float32)
        m = real & on
        x[~m] = 0.0
        return x, m

    t, tm = feats(50, text)
    a, am = feats(74, acoustic)
    v, vm = feats(35, visual)
    starts = np.where(real, np.arange(T) * 0.3, np.nan)
    return Window(t, a, v, starts, starts + 0.3, real, tm, am, vm, words=[None] * T)


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> Checkpoint:
    return Checkpoint.load(tiny_checkpoint)


@pytest.fixture()
def predictor(checkpoint) -> Predictor:
    return Predictor(checkpoint)


@pytest.mark.parametrize(
    "spec, expected",
    [
        (None, ("text", "acoustic", "visual")),
        ("tav", ("text", "acoustic", "visual")),
        ("all", ("text", "acoustic", "visual")),
        ("av", ("acoustic", "visual")),
        ("VT", ("text", "visual")),
        ("a", ("acoustic",)),
        (["visual", "text"], ("text", "visual")),
    ],
)
def test_parse_modalities(spec, expected):
    assert parse_modalities(spec) == expected


@pytest.mark.parametrize("bad", ["tx", "audio", ["speech"]])
def test_parse_modalities_rejects_unknown(bad):
    with pytest.raises(ValueError):
        parse_modalities(bad)


@pytest.mark.slow
def test_prediction_is_typed_and_consistent(predictor):
    p = predictor.predict(_window())
    assert isinstance(p, EmotionPrediction)
    assert p.emotions == SIX and p.probabilities.shape == (6,) and p.logits.shape == (6,)
    assert np.allclose(p.probabilities, 1 / (1 + np.exp(-p.logits)), atol=1e-6)
    assert p.modalities_used == ("text", "acoustic", "visual")
    assert set(p.modality_scores) == set(p.contributions) == {"text", "acoustic", "visual"}
    assert np.allclose(sum(p.contributions.values()), p.logits, atol=1e-5)
    learned = predictor.net.fusion_weights.detach().numpy()  # 1.0 at init, up to fp16 storage
    assert np.allclose(predictor.fusion_weights, learned, atol=1e-6)
    assert np.allclose(list(p.fusion_weights.values()), learned, atol=1e-6)
    assert set(p.as_dict()) == set(SIX)
    name, prob = p.top()
    assert prob == pytest.approx(float(p.probabilities.max())) and name == SIX[int(np.argmax(p.probabilities))]


@pytest.mark.slow
def test_batched_equals_one_by_one(predictor):
    wins = [_window(i, visual=i % 2 == 0) for i in range(5)]
    batched = predictor.predict_windows(wins, batch_size=2)
    for w, b in zip(wins, batched):
        assert np.allclose(predictor.predict(w).logits, b.logits, atol=1e-5)
    stacked = batch_windows(wins)
    assert stacked.text.shape == (5, T, 50) and stacked.modality_mask.shape == (5, 3)
    assert not stacked.modality_mask[1, 2] and stacked.modality_mask[0, 2]


@pytest.mark.slow
def test_missing_modality_renormalises_the_weights(predictor):
    p = predictor.predict(_window(visual=False))
    assert p.modalities_used == ("text", "acoustic")
    assert "visual" not in p.contributions
    w = p.fusion_weights
    total = float(predictor.fusion_weights.sum())
    assert w["visual"] == 0.0 and w["text"] + w["acoustic"] == pytest.approx(total, abs=1e-5)
    assert np.allclose(p.contributions["text"] + p.contributions["acoustic"], p.logits, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("spec, modality", [("a", "acoustic"), ("t", "text"), ("v", "visual")])
def test_single_modality_is_its_scores_times_total_weight(predictor, spec, modality):
    total = float(predictor.fusion_weights.sum())
    p = predictor.predict(_window(), modalities=spec)
    assert p.modalities_used == (modality,)
    assert np.allclose(p.logits, p.modality_scores[modality] * total, atol=1e-5)
    # and the raw score is the same as in the all-modality run
    assert np.allclose(p.modality_scores[modality], predictor.predict(_window()).modality_scores[modality], atol=1e-5)


@pytest.mark.slow
def test_no_modality_gives_nan_probabilities(predictor):
    p = predictor.predict(_window(text=False, acoustic=False), modalities="ta")
    assert p.modalities_used == ()
    assert np.isnan(p.probabilities).all()
    assert p.top() is None
    assert all(v == 0.0 for v in p.fusion_weights.values())


@pytest.mark.slow
def test_unobserved_steps_are_ignored_even_with_garbage(predictor):
    w = _window(pad=8)
    clean = predictor.predict(w)
    w.acoustic[:8] = np.nan  # padding steps
    w.visual[:8] = 1e9
    w.text[:8] = np.inf
    dirty = predictor.predict(w)
    assert np.isfinite(dirty.logits).all()
    assert np.allclose(clean.logits, dirty.logits, atol=1e-6)


@pytest.mark.slow
def test_non_finite_observed_features_do_not_break_prediction(predictor):
    w = _window()
    w.acoustic[10, :5] = [np.nan, np.inf, -np.inf, np.nan, 0]
    assert np.isfinite(predictor.predict(w).probabilities).all()


@pytest.mark.slow
def test_adding_an_emotion_keeps_the_others(predictor, checkpoint):
    from feature_adapters.embeddings import get_provider

    w = _window(3)
    before = predictor.predict(w)
    predictor.add_emotion("bored", get_provider().vector("bored"))
    after = predictor.predict(w, emotions=SIX + ["bored"])
    assert after.emotions[-1] == "bored"
    assert np.allclose(after.logits[:6], before.logits, atol=1e-6)


@pytest.mark.slow
def test_zero_shot_acoustic_score_is_r_a_dot_mapped_vector(predictor):
    from feature_adapters.embeddings import get_provider

    e_new = get_provider().vector("bored")
    predictor.add_emotion("bored", e_new)
    w = _window(4)
    p = predictor.predict(w, emotions=["happy", "bored"])
    xs, _ = predictor.prepare(batch_windows([w]))
    with torch.no_grad():
        r = predictor.net.encode(*(torch.from_numpy(xs[m]) for m in ("text", "acoustic", "visual")))
        expected_a = (r["acoustic"] @ predictor.net.map_t2a(torch.from_numpy(e_new)))[0].item()
        expected_t = (r["text"] @ torch.from_numpy(e_new))[0].item()
    assert p.modality_scores["acoustic"][1] == pytest.approx(expected_a, abs=1e-5)
    assert p.modality_scores["text"][1] == pytest.approx(expected_t, abs=1e-5)


@pytest.mark.slow
def test_scores_change_when_the_vector_changes(predictor):
    rng = np.random.default_rng(0)
    w = _window(5)
    predictor.add_emotion("x", rng.normal(size=50))
    a = predictor.predict(w, emotions=["happy", "x"])
    predictor.add_emotion("x", rng.normal(size=50))  # replacing the vector must invalidate the cache
    b = predictor.predict(w, emotions=["happy", "x"])
    assert a.logits[0] == pytest.approx(b.logits[0], abs=1e-6)
    assert abs(a.logits[1] - b.logits[1]) > 1e-3


@pytest.mark.slow
def test_emotion_matrix_sources(predictor, checkpoint):
    from feature_adapters.embeddings import get_provider

    assert np.array_equal(predictor.emotion_matrix(["sad"])[0], checkpoint.vector_of("sad"))
    with pytest.raises(KeyError, match="add-emotion calm"):
        predictor.emotion_matrix(["calm"])
    with_provider = Predictor(checkpoint, provider=get_provider())
    assert np.allclose(with_provider.emotion_matrix(["calm"])[0], get_provider().vector("calm"))
    assert predictor.emotion_matrix([]).shape == (0, 50)


@pytest.mark.slow
def test_provider_of_another_space_is_refused(checkpoint):
    class Other:
        name = "glove-840B-300d"

        def vector(self, w):  # pragma: no cover - must not be reached
            raise AssertionError

    with pytest.raises(ValueError, match="glove-840B-300d.*glove-6B-50d"):
        Predictor(checkpoint, provider=Other()).emotion_matrix(["calm"])


def test_add_emotion_checks_the_dimension(predictor):
    with pytest.raises(ValueError, match="300-d.*50"):
        predictor.add_emotion("x", np.zeros(300))


@pytest.mark.slow
def test_modality_without_statistics_is_still_sanitised(checkpoint):
    from model.inference import WindowBatch

    ck = Checkpoint.load(checkpoint.path)
    del ck.normalization["visual"]
    pred = Predictor(ck)
    w = _window(6)
    b = WindowBatch(text=w.text[None], acoustic=w.acoustic[None], visual=w.visual[None].copy())
    b.visual[0, 10] = np.nan
    b.visual[0, 11] = np.inf
    out = pred.predict_batch(b)[0]
    assert np.isfinite(out.logits).all()
    assert out.modalities_used == ("text", "acoustic", "visual")  # no mask given: all present


@pytest.mark.slow
def test_numpy_and_torch_backends_agree(checkpoint):
    from feature_adapters.embeddings import get_provider

    fast, ref = Predictor(checkpoint), Predictor(checkpoint, backend="torch")
    assert fast.backend == "numpy" and fast.runtime is not None and ref.runtime is None
    wins = [_window(i, text=i != 1, visual=i % 2 == 0, pad=i) for i in range(5)]
    for p in (fast, ref):
        p.add_emotion("bored", get_provider().vector("bored"))
    for mods in ("tav", "av", "t"):
        for a, b in zip(
            fast.predict_windows(wins, SIX + ["bored"], mods, batch_size=3),
            ref.predict_windows(wins, SIX + ["bored"], mods, batch_size=3),
        ):
            assert a.modalities_used == b.modalities_used and a.fusion_weights == pytest.approx(
                b.fusion_weights, abs=1e-6
            )
            assert np.allclose(a.logits, b.logits, atol=1e-5) and np.allclose(
                a.probabilities, b.probabilities, atol=1e-6, equal_nan=True
            )
            for m in a.modalities_used:
                assert np.allclose(a.modality_scores[m], b.modality_scores[m], atol=1e-5)
                assert np.allclose(a.contributions[m], b.contributions[m], atol=1e-5)


def test_unknown_backend_is_refused(checkpoint):
    with pytest.raises(ValueError, match="backend 'onnx'.*numpy, torch"):
        Predictor(checkpoint, backend="onnx")


_NO_TORCH_SCRIPT = """
import sys
import numpy as np
from feature_adapters.windows import Window
from model.checkpoint import load_checkpoint
from model.inference import Predictor

T = 20
rng = np.random.default_rng(0)
real = np.arange(T) >= 5
t, a, v = (np.where(real[:, None], rng.normal(size=(T, d)), 0).astype(np.float32) for d in (50, 74, 35))
starts = np.where(real, np.arange(T) * 0.3, np.nan)
window = Window(t, a, v, starts, starts + 0.3, real, real, real, real, words=[None] * T)
p = Predictor(load_checkpoint(sys.argv[1])).predict(window)
assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))[:5]
np.savez(sys.argv[2], text=window.text, acoustic=window.acoustic, visual=window.visual)
print(" ".join(repr(float(x)) for x in p.logits))
"""


@pytest.mark.slow
def test_live_inference_path_does_not_import_torch(tiny_checkpoint, tmp_path):
    """Load a checkpoint and predict a window in a fresh interpreter: torch is never imported.

    A stub ``torch`` package that raises on import comes first on the path, so even an
    import that is caught and ignored would show up as a failure.
    """
    repo = Path(__file__).resolve().parents[1]
    stub = tmp_path / "stub"
    (stub / "torch").mkdir(parents=True)
    (stub / "torch" / "__init__.py").write_text("raise ImportError('torch imported on the numpy inference path')\n")
    (stub / "sitecustomize.py").write_text(
        "import builtins, sys\n_imp = builtins.__import__\n"
        "def _guard(name, *a, **k):\n"
        "    if name.split('.')[0] == 'torch':\n"
        "        sys.stderr.write('TORCH-IMPORT-ATTEMPT\\n')\n"
        "    return _imp(name, *a, **k)\n"
        "builtins.__import__ = _guard\n"
    )
    env = {"PYTHONPATH": f"{stub}:{repo}", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    feats = tmp_path / "feats.npz"
    out = subprocess.run(
        [sys.executable, "-c", _NO_TORCH_SCRIPT, str(tiny_checkpoint), str(feats)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, (out.stderr.strip().splitlines() or [""])[-1]
    assert "TORCH-IMPORT-ATTEMPT" not in out.stderr
    got = np.array([float(x) for x in out.stdout.split()], np.float32)
    # the same window through the torch backend in this process
    f = np.load(feats)
    t, a, v = f["text"], f["acoustic"], f["visual"]
    T = t.shape[0]
    real = np.arange(T) >= 5
    starts = np.where(real, np.arange(T) * 0.3, np.nan)
    w = Window(t, a, v, starts, starts + 0.3, real, real, real, real, words=[None] * T)
    want = Predictor(Checkpoint.load(tiny_checkpoint), backend="torch").predict(w).logits
    assert got.shape == (len(SIX),) and np.allclose(got, want, atol=1e-5)


def test_adapted_rows_replace_only_that_emotion(checkpoint):
    from feature_adapters.embeddings import get_provider

    pred = Predictor(checkpoint)
    pred.add_emotion("bored", get_provider().vector("bored"))
    wins = [_window(i) for i in range(4)]
    emos = SIX + ["bored"]
    before = pred.predict_windows(wins, emos)
    rng = np.random.default_rng(3)
    rows = {
        "acoustic": rng.normal(size=checkpoint.config.hidden["acoustic"]),
        "visual": rng.normal(size=checkpoint.config.hidden["visual"]),
    }
    pred.set_adaptation("bored", rows)
    after = pred.predict_windows(wins, emos)
    for b, a in zip(before, after):
        assert np.array_equal(b.logits[:6], a.logits[:6])  # the trained emotions do not move
        assert not np.isclose(b.logits[6], a.logits[6])
        assert np.array_equal(b.modality_scores["text"][6], a.modality_scores["text"][6])  # text row kept
    # the adapted acoustic score is r_a . row
    reps, _ = pred.representations(batch_windows(wins))
    assert np.allclose(
        [a.modality_scores["acoustic"][6] for a in after], reps["acoustic"] @ rows["acoustic"], atol=1e-4
    )
    ref = Predictor(checkpoint, backend="torch")
    ref.add_emotion("bored", get_provider().vector("bored"))
    ref.set_adaptation("bored", rows)
    for a, b in zip(after, ref.predict_windows(wins, emos)):
        assert np.allclose(a.logits, b.logits, atol=1e-4)
    pred.clear_adaptation("bored")
    assert np.array_equal(pred.predict_windows(wins, emos)[0].logits, before[0].logits)


def test_an_adapter_offset_moves_only_its_emotion(checkpoint):
    pred = Predictor(checkpoint)
    wins = [_window(i) for i in range(3)]
    before = pred.predict_windows(wins, SIX)
    rows = {
        "acoustic": np.ones(checkpoint.config.hidden["acoustic"]) * 0.1,
        "visual": np.ones(checkpoint.config.hidden["visual"]) * 0.1,
    }
    pred.set_adaptation("sad", rows)
    plain = pred.predict_windows(wins, SIX)
    pred.set_adaptation("sad", {**rows, "offset": np.array([0.5])})
    after = pred.predict_windows(wins, SIX)
    k = SIX.index("sad")
    wsum = float(np.sum(pred.fusion_weights))
    for b, p, a in zip(before, plain, after):
        assert np.isclose(a.logits[k], p.logits[k] + 0.5 * wsum, atol=1e-4)
        assert np.array_equal(np.delete(a.logits, k), np.delete(b.logits, k))
        assert np.allclose(sum(a.contributions.values()), a.logits, atol=1e-4)  # they still sum to the logits
        for m, v in a.modality_scores.items():
            assert np.isclose(v[k], p.modality_scores[m][k] + 0.5, atol=1e-5)
    pred.clear_adaptation("sad")
    assert "sad" not in pred.offsets
    assert np.array_equal(pred.predict_windows(wins, SIX)[0].logits, before[0].logits)
    with pytest.raises(ValueError, match="one finite number"):
        pred.set_adaptation("sad", {"offset": [1.0, 2.0]})


def test_adaptation_and_calibration_are_checked(checkpoint):
    pred = Predictor(checkpoint)
    with pytest.raises(ValueError, match="acoustic embedding is 3-d"):
        pred.set_adaptation("x", {"acoustic": np.zeros(3)})
    with pytest.raises(ValueError, match="unknown modality"):
        pred.set_adaptation("x", {"smell": np.zeros(3)})
    with pytest.raises(ValueError, match="calibration for 'visual' has 2 features"):
        pred.set_calibration({"visual": np.zeros(2)})


def test_calibration_shifts_observed_steps_only(checkpoint):
    pred = Predictor(checkpoint)
    w = _window(0)
    base = pred.predict(w)
    shift = np.full(35, 0.5, np.float32)
    pred.set_calibration({"visual": shift})
    moved = pred.predict(w)
    assert np.array_equal(base.modality_scores["acoustic"], moved.modality_scores["acoustic"])
    assert not np.allclose(base.modality_scores["visual"], moved.modality_scores["visual"])
    w2 = _window(0)
    w2.visual[w2.visual_mask] += 0.5  # the same shift put in by hand, then taken out: the same prediction
    assert np.allclose(pred.predict(w2).modality_scores["visual"], base.modality_scores["visual"], atol=1e-5)
    plain, _ = Predictor(checkpoint).representations(batch_windows([w]))
    unshifted, _ = pred.representations(batch_windows([w]), calibrated=False)  # e.g. the replay set
    assert np.allclose(unshifted["visual"], plain["visual"])
    pred.set_calibration(None)
    assert np.array_equal(pred.predict(w).logits, base.logits)


def test_per_window_acoustic_normalisation_travels_in_the_checkpoint(checkpoint, tmp_path):
    """A checkpoint whose acoustic statistics carry a per-window mode applies it at runtime (after a save and a
    load): a constant offset on every observed acoustic step (a louder, higher voice) leaves the acoustic score as
    it was; without the mode it moves it."""
    from dataclasses import replace

    from model.inference import WindowBatch

    w = _window(7)
    louder = w.acoustic.copy()
    louder[w.acoustic_mask] += np.linspace(0.5, 3.0, 74, dtype=np.float32)

    def acoustic_scores(ck, x):
        b = WindowBatch(
            text=w.text[None],
            acoustic=x[None],
            visual=w.visual[None],
            step_masks={"text": w.text_mask[None], "acoustic": w.acoustic_mask[None], "visual": w.visual_mask[None]},
        )
        return Predictor(ck).predict_batch(b, modalities="a")[0].logits

    ck = Checkpoint.load(checkpoint.path)
    ck.normalization["acoustic"] = replace(ck.normalization["acoustic"], per_window="mean")
    back = Checkpoint.load(ck.save(tmp_path / "pw.ckpt"))
    assert back.normalization["acoustic"].per_window == "mean"
    assert back.normalization["visual"].per_window == ""
    assert np.allclose(acoustic_scores(back, w.acoustic), acoustic_scores(back, louder), atol=1e-4)
    assert not np.allclose(acoustic_scores(checkpoint, w.acoustic), acoustic_scores(checkpoint, louder), atol=1e-3)
