"""Emotion-space geometry: cosine distances, nearest rows, 2-D maps."""

from __future__ import annotations

import numpy as np

from model import geometry as g


def test_distance_matrix_is_a_cosine_distance():
    E = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    D = g.distance_matrix(E)
    assert np.allclose(D, D.T) and np.allclose(np.diag(D), 0)
    assert np.isclose(D[0, 1], 1.0) and np.isclose(D[0, 2], 2.0)


def test_zero_rows_are_similar_to_nothing():
    S = g.cosine_similarity(np.zeros((1, 3)), np.eye(3))
    assert np.allclose(S, 0)


def test_nearest_is_ranked_and_can_exclude():
    E = np.array([[1.0, 0.0], [0.7, 0.7], [0.0, 1.0]])
    near = g.nearest(np.array([1.0, 0.1]), ["a", "b", "c"], E, k=2)
    assert [n for n, _ in near] == ["a", "b"] and near[0][1] > near[1][1]
    assert [n for n, _ in g.nearest(np.array([1.0, 0.1]), ["a", "b", "c"], E, k=1, exclude=("a",))] == ["b"]


def test_map_2d_keeps_the_structure_and_is_deterministic():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2, 8))
    E = np.concatenate([base[0] + 0.01 * rng.normal(size=(3, 8)), base[1] + 0.01 * rng.normal(size=(3, 8))])
    P = g.map_2d(E)
    assert P.shape == (6, 2)
    within = np.linalg.norm(P[0] - P[1])
    across = np.linalg.norm(P[0] - P[4])
    assert across > 10 * within
    assert np.array_equal(P, g.map_2d(E)) and np.allclose(P, g.map_2d(5 * E))
    assert g.map_2d(np.ones((1, 4))).shape == (1, 2)
