import numpy as np
import pytest

from model.zeroshot import anchor_index, compose_vectors, composition_weights, metric_cosine, text_metric


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
