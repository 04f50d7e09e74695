import numpy as np
import pytest

from model.zeroshot import (
    AFFECT_POLES,
    affect_axes,
    affect_coordinates,
    affect_weights,
    anchor_index,
    compose_by_rule,
    compose_vectors,
    composition_weights,
    interpolation_weights,
    metric_cosine,
    rule_weights,
    text_metric,
)

EVALUATED = {
    "anger",
    "angry",
    "disgust",
    "disgusted",
    "fear",
    "afraid",
    "happy",
    "happiness",
    "neutral",
    "sad",
    "sadness",
    "surprise",
    "surprised",
    "calm",
    "calmness",
}


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_metric_cosine_identity_is_plain_cosine():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    plain = _unit(A) @ _unit(B).T
    assert np.allclose(metric_cosine(A, B), plain, atol=1e-6)
    assert np.allclose(metric_cosine(A, B, np.eye(5)), plain, atol=1e-6)


def test_metric_reweighs_directions():
    # two words differing only along axis 1: alike when the metric ignores axis 1
    a, b = np.array([[1.0, 1.0]]), np.array([[1.0, -1.0]])
    assert metric_cosine(a, b)[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert metric_cosine(a, b, np.diag([1.0, 1e-6]))[0, 0] == pytest.approx(1.0, abs=1e-4)


def test_weights_are_a_softmax_that_sharpens_with_beta():
    anchors = np.eye(3)
    e = np.array([[1.0, 0.5, 0.0]])
    w1 = composition_weights(e, anchors, None, 1.0)
    w20 = composition_weights(e, anchors, None, 20.0)
    assert np.allclose(w1.sum(1), 1) and np.allclose(w20.sum(1), 1)
    assert w1[0].argmax() == 0 and w20[0, 0] > w1[0, 0] > w1[0, 1] > w1[0, 2]


def test_anchors_keep_their_vectors_and_new_words_are_mixes_of_anchors():
    rng = np.random.default_rng(1)
    anchors = rng.normal(size=(4, 6)).astype(np.float32)
    new = rng.normal(size=(2, 6)).astype(np.float32)
    E = np.concatenate([anchors[[2, 0]], new])
    out = compose_vectors(E, anchors, None, 5.0)
    assert np.allclose(out[:2], anchors[[2, 0]])
    w = composition_weights(new, anchors, None, 5.0)
    assert np.allclose(out[2:], w @ anchors, atol=1e-5)
    # an fp16-rounded anchor is still that anchor
    assert anchor_index(anchors.astype(np.float16).astype(np.float32), anchors).tolist() == [0, 1, 2, 3]


def test_no_anchors_is_the_paper_map():
    E = np.ones((2, 3), np.float32)
    assert np.array_equal(compose_vectors(E, np.zeros((0, 3)), None, 5.0), E)
    with pytest.raises(ValueError, match="anchors are 4-d"):
        compose_vectors(E, np.ones((2, 4)), None, 5.0)


def test_text_metric_is_scaled_shrunk_covariance():
    rng = np.random.default_rng(2)
    R = rng.normal(size=(500, 4)) * np.array([3.0, 1.0, 1.0, 0.01])
    M = text_metric(R, shrink=0.1)
    assert M.shape == (4, 4) and np.allclose(M, M.T, atol=1e-6)
    assert np.trace(M) / 4 == pytest.approx(1.0, rel=1e-5)
    assert M[0, 0] > M[1, 1] > M[3, 3] >= 0.1 - 1e-6
    with pytest.raises(ValueError):
        text_metric(np.ones((1, 4)))


# ----------------------------------------------------------------------------- rule v2 'affect'


def test_no_pole_is_an_evaluated_emotion_word():
    poles = {w for pairs in AFFECT_POLES.values() for pair in pairs for w in pair}
    assert not poles & EVALUATED
    assert not any(
        w.startswith(("anger", "disgust", "fear", "happ", "neutral", "sad", "surpris", "calm")) for w in poles
    )


def test_affect_axes_are_mean_unit_pole_differences_and_skip_missing_words():
    vecs = {"up": np.array([2.0, 0.0, 0.0]), "down": np.array([0.0, 3.0, 0.0]), "hi": np.array([0.0, 0.0, 1.0])}
    poles = {"x": (("up", "down"), ("hi", "nope")), "y": (("hi", "up"),)}
    A = affect_axes(vecs.get, poles)
    assert A.shape == (2, 3)
    assert np.allclose(A[0], np.array([1.0, -1.0, 0.0]) / np.sqrt(2), atol=1e-6)  # the pair with 'nope' skipped
    assert np.allclose(np.linalg.norm(A, axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="axis 'z'"):
        affect_axes(vecs.get, {"z": (("nope", "none"),)})


def test_affect_coordinates_are_cosines_with_the_axes():
    axes = np.eye(3)[:2]
    E = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
    assert np.allclose(affect_coordinates(E, axes), [[0.6, 0.8], [0.0, 0.0]], atol=1e-9)


def test_affect_weights_favour_the_anchor_with_the_nearest_coordinates():
    axes = np.eye(4)[:2]  # valence = dim 0, arousal = dim 1; dims 2, 3 carry no affect
    anchors = np.array([[1.0, 1.0, 0.0, 0.0], [-1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    # a word sharing the third anchor's non-affect direction but the first anchor's affect coordinates
    e = np.array([[1.0, 1.0, 0.3, 0.0]])
    w = affect_weights(e, anchors, axes, 30.0)
    assert np.allclose(w.sum(1), 1) and w[0].argmax() == 0
    assert affect_weights(e, anchors, axes, 0.0)[0] == pytest.approx(np.full(3, 1 / 3))  # beta 0: uniform
    # the metric cosine term mixes in: with a large text beta and no affect term, the plain cosine decides
    assert np.allclose(affect_weights(e, anchors, axes, 0.0, None, 7.0), composition_weights(e, anchors, None, 7.0))


def test_interpolation_reproduces_the_coordinates_and_may_extrapolate():
    axes = np.eye(3)[:2]
    anchors = np.array([[0.0, 0.1, 1.0], [0.5, 0.5, 1.0], [-0.5, 0.5, 1.0], [0.0, 0.9, 1.0]])
    e = np.array([[0.0, -0.6, 1.0]])  # beyond the anchors in arousal
    prior = np.full((1, 4), 0.25)
    w = interpolation_weights(e, anchors, axes, prior, 1e-9)
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(w @ affect_coordinates(anchors, axes), affect_coordinates(e, axes), atol=1e-6)
    assert (w < 0).any()  # extrapolated, not a convex mix
    # a large ridge keeps the prior
    assert np.allclose(interpolation_weights(e, anchors, axes, prior, 1e6), prior, atol=1e-4)


def test_rule_weights_dispatch_and_old_rule_is_unchanged():
    rng = np.random.default_rng(3)
    anchors, e = rng.normal(size=(5, 6)), rng.normal(size=(2, 6))
    M = np.eye(6) + 0.1
    axes = _unit(rng.normal(size=(3, 6)))
    assert np.array_equal(
        rule_weights(e, anchors, {"method": "compose", "beta": 5.0}, M, None), composition_weights(e, anchors, M, 5.0)
    )
    r = {"method": "affect", "beta": 1.0, "beta_affect": 20.0}
    assert np.allclose(rule_weights(e, anchors, r, M, axes), affect_weights(e, anchors, axes, 20.0, M, 1.0))
    r2 = {**r, "ridge": 0.1}
    assert np.allclose(
        rule_weights(e, anchors, r2, M, axes),
        interpolation_weights(e, anchors, axes, affect_weights(e, anchors, axes, 20.0, M, 1.0), 0.1),
    )
    with pytest.raises(ValueError, match="needs the affect axes"):
        rule_weights(e, anchors, r, M, None)
    with pytest.raises(ValueError, match="unknown zero-shot method"):
        rule_weights(e, anchors, {"method": "nope"}, M, axes)
    out = compose_by_rule(np.concatenate([anchors[:1], e]).astype(np.float32), anchors, r, M, axes)
    assert np.allclose(out[0], anchors[0], atol=1e-6)  # an anchor keeps its vector
    assert np.allclose(out[1:], rule_weights(e, anchors, r, M, axes) @ anchors, atol=1e-5)
