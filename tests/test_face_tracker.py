"""feature_adapters.face_tracker: stable face ids across frames (pure)."""

from __future__ import annotations

import pytest

from feature_adapters.face_tracker import FaceTracker, centre_shift, iou, order_by_size


def box(x, y, s=100):
    return (x, y, x + s, y + s)


def test_iou_and_shift():
    assert iou(box(0, 0), box(0, 0)) == pytest.approx(1.0)
    assert iou(box(0, 0), box(50, 0)) == pytest.approx(50 / 150)
    assert iou(box(0, 0), box(300, 0)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    assert centre_shift(box(0, 0), box(100, 0)) == pytest.approx(1.0)


def test_order_by_size_largest_first():
    assert order_by_size([box(0, 0, 10), box(0, 0, 50), box(0, 0, 30)]) == [1, 2, 0]
    assert order_by_size([]) == []


def test_ids_follow_faces_whatever_the_order_they_are_reported_in():
    tr = FaceTracker()
    a, b = box(0, 0), box(400, 0)
    assert tr.update(0.0, [a, b]) == [0, 1]
    # the backend reports them swapped, both moved a little
    assert tr.update(0.2, [box(410, 5), box(10, 5)]) == [1, 0]
    # a fast move between sparse frames: no overlap, but the centre is within one box size
    assert tr.update(0.4, [box(90, 5), box(410, 5)]) == [0, 1]


def test_new_faces_get_new_ids_and_ids_are_never_reused():
    tr = FaceTracker(max_gap=0.5)
    assert tr.update(0.0, [box(0, 0)]) == [0]
    assert tr.update(0.2, [box(0, 0), box(600, 0)]) == [0, 1]
    assert tr.update(0.4, [box(600, 0)]) == [1]  # face 0 out of view for a moment
    assert tr.update(0.6, [box(0, 0), box(600, 0)]) == [0, 1]  # back within max_gap: same id
    assert tr.update(2.0, [box(0, 0)]) == [2]  # both gone for longer than max_gap: a new id
    assert tr.active_ids == [2]


def test_two_boxes_never_share_an_id():
    tr = FaceTracker()
    tr.update(0.0, [box(0, 0)])
    ids = tr.update(0.2, [box(5, 0), box(10, 0)])  # both overlap the one track
    assert sorted(ids) == [0, 1] and ids[0] == 0  # the better overlap keeps the id


def test_no_faces_and_reset():
    tr = FaceTracker()
    assert tr.update(0.0, []) == []
    tr.update(0.1, [box(0, 0)])
    tr.reset()
    assert tr.update(0.2, [box(0, 0)]) == [0] and tr.active_ids == [0]


def test_tiles_cover_the_image_with_overlap():
    from feature_adapters.face_tracker import tile_grid

    tiles = tile_grid(667, 1000, 2, 0.25)
    assert len(tiles) == 4
    assert min(t[0] for t in tiles) == 0 and max(t[2] for t in tiles) == 1000
    assert min(t[1] for t in tiles) == 0 and max(t[3] for t in tiles) == 667
    (ax0, _, ax1, _), (bx0, *_) = tiles[0], tiles[1]
    assert ax1 - bx0 == pytest.approx(0.25 * (ax1 - ax0), abs=2)  # neighbours share a quarter of a tile
    assert tile_grid(100, 200, 1) == [(0, 0, 200, 100)]


def test_merge_drops_a_face_found_again_in_another_tile():
    from feature_adapters.face_tracker import merge_detections, overlap_of_smaller

    whole, cut, other = (100, 100, 200, 220), (100, 100, 200, 160), (400, 100, 480, 190)
    assert overlap_of_smaller(whole, cut) == pytest.approx(1.0)
    assert merge_detections([cut, other, whole]) == [2, 1]  # the whole face kept, its cut copy dropped
    assert merge_detections([box(0, 0), box(150, 0)]) == [0, 1]
    assert merge_detections([]) == []
