"""Word-level alignment: frame means, steps, pseudo-steps, windows, streaming."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from feature_adapters.align import (
    AlignmentError,
    FrameSeries,
    StreamingAligner,
    WordInput,
    as_word,
    build_steps,
    frame_means,
    make_window,
    step_intervals,
    windows_at,
    windows_over,
)
from feature_adapters.windows import Step, Window

# Times below are multiples of 1/8 s so that boundary comparisons are exact in binary.


def naive_means(times, feats, valid, intervals, tol):
    """Reference: a plain loop over intervals and frames."""
    k, d = len(intervals), feats.shape[1]
    means = np.zeros((k, d), dtype=np.float64)
    present = np.zeros(k, dtype=bool)
    for i, (s, e) in enumerate(intervals):
        inside = [j for j in range(len(times)) if valid[j] and s <= times[j] < e]
        if inside:
            means[i] = feats[inside].astype(np.float64).mean(axis=0)
            present[i] = True
            continue
        # nearest valid frame: the last one before the interval or the first at/after its end
        before = [j for j in range(len(times)) if valid[j] and times[j] < s]
        after = [j for j in range(len(times)) if valid[j] and times[j] >= e]
        cands = []
        if before:
            cands.append((s - times[before[-1]], 0, before[-1]))
        if after:
            cands.append((times[after[0]] - e, 1, after[0]))
        if cands:
            dist, _, j = min(cands)  # a tie goes to the earlier frame
            if dist <= tol + 1e-9:
                means[i] = feats[j]
                present[i] = True
    return means, present


def assert_windows_equal(a: Window, b: Window) -> None:
    for key in ("text", "acoustic", "visual", "step_mask", "text_mask", "acoustic_mask", "visual_mask"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    np.testing.assert_array_equal(a.starts, b.starts)
    np.testing.assert_array_equal(a.ends, b.ends)
    assert a.words == b.words


def vec(*xs) -> np.ndarray:
    return np.array(xs, dtype=np.float32)


# --------------------------------------------------------------------------- frame_means


def test_frame_means_equal_hand_computed_and_half_open():
    times = np.arange(8) * 0.25  # 0, .25, ..., 1.75
    feats = np.arange(16, dtype=np.float32).reshape(8, 2) * 1.5
    intervals = [(0.0, 0.5), (0.5, 1.25), (0.25, 0.26), (1.5, 2.0)]
    means, present = frame_means(times, feats, None, intervals, tolerance=0.0)
    # [0, .5) holds frames 0, 1 (frame at .5 is excluded; it belongs to the next interval)
    np.testing.assert_allclose(means[0], feats[[0, 1]].mean(0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(means[1], feats[[2, 3, 4]].mean(0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(means[2], feats[1], rtol=0, atol=0)  # start boundary is inclusive
    np.testing.assert_allclose(means[3], feats[[6, 7]].mean(0), rtol=0, atol=1e-6)
    assert present.all()
    assert means.dtype == np.float32 and means.shape == (4, 2)


def test_frame_means_skips_invalid_and_nonfinite_frames():
    times = np.arange(6) * 0.25
    feats = np.array([[1.0], [2.0], [100.0], [np.nan], [5.0], [6.0]], dtype=np.float32)
    valid = np.array([True, True, False, True, True, True])
    means, present = frame_means(times, feats, valid, [(0.0, 1.5)], tolerance=0.0)
    assert present[0]
    assert means[0, 0] == pytest.approx((1 + 2 + 5 + 6) / 4)


def test_frame_means_empty_interval_uses_nearest_frame_within_tolerance():
    times = np.array([0.0, 0.125, 0.5])
    feats = np.array([[1.0], [2.0], [3.0]], dtype=np.float32)
    intervals = [
        (0.1875, 0.25),  # 0.0625 after frame .125, 0.25 before .5 -> frame .125
        (0.4375, 0.4375),  # zero-length, 0.0625 before .5 -> frame .5
        (0.25, 0.375),  # 0.125 from both neighbours -> beyond tolerance 0.1: absent
        (0.3125, 0.3125),  # tie (0.1875 each side) with a large tolerance -> earlier frame
    ]
    means, present = frame_means(times, feats, None, intervals, tolerance=0.1)
    assert present.tolist() == [True, True, False, False]
    assert means[0, 0] == 2.0 and means[1, 0] == 3.0
    assert means[2, 0] == 0.0
    means, present = frame_means(times, feats, None, intervals[3:], tolerance=0.25)
    assert present[0] and means[0, 0] == 2.0


def test_frame_means_invalid_frames_inside_fall_back_to_nearest_valid():
    times = np.array([0.0, 0.25, 0.5, 0.75])
    feats = np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    valid = np.array([True, False, False, True])
    means, present = frame_means(times, feats, valid, [(0.25, 0.625), (0.25, 0.75)], tolerance=0.125)
    # first: no valid frame inside; frame .75 is .125 after the end -> used
    # second: frame .75 is exactly at the (excluded) end -> distance 0 -> used; frame 0 is .25 away
    assert present.tolist() == [True, True]
    assert means[0, 0] == 4.0 and means[1, 0] == 4.0
    means, present = frame_means(times, feats, valid, [(0.25, 0.5)], tolerance=0.2)
    assert not present[0] and means[0, 0] == 0.0


def test_frame_means_no_frames_and_unsorted_input():
    means, present = frame_means(np.zeros(0), np.zeros((0, 3)), None, [(0.0, 1.0)])
    assert not present.any() and means.shape == (1, 3)
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 5, 50)
    f = rng.normal(size=(50, 4)).astype(np.float32)
    iv = [(0.5, 1.5), (2.0, 4.0)]
    order = np.argsort(t)
    m1, p1 = frame_means(t, f, None, iv)
    m2, p2 = frame_means(t[order], f[order], None, iv)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(p1, p2)


def test_frame_means_rejects_bad_shapes():
    with pytest.raises(AlignmentError, match="2-D"):
        frame_means(np.zeros(3), np.zeros(3), None, [(0, 1)])
    with pytest.raises(AlignmentError, match="3 times but 2 feature rows"):
        frame_means(np.zeros(3), np.zeros((2, 1)), None, [(0, 1)])
    with pytest.raises(AlignmentError, match="end >= start"):
        frame_means(np.zeros(3), np.zeros((3, 1)), None, [(1, 0)])
    with pytest.raises(AlignmentError, match="valid mask"):
        frame_means(np.zeros(3), np.zeros((3, 1)), np.ones(2, bool), [(0, 1)])


def test_frame_means_matches_naive_loop_on_random_timelines():
    rng = np.random.default_rng(1234)
    for trial in range(150):
        n = int(rng.integers(0, 40))
        d = int(rng.integers(1, 5))
        # mixture of grid-aligned and arbitrary times, with duplicates
        times = np.round(rng.uniform(0, 4, n) * 8) / 8 if trial % 2 else rng.uniform(0, 4, n)
        times = np.sort(times)
        feats = (rng.normal(size=(n, d)) * 10.0 ** rng.integers(-2, 3)).astype(np.float32)
        valid = rng.random(n) < 0.7
        k = int(rng.integers(1, 12))
        starts = np.round(rng.uniform(-0.5, 4.5, k) * 16) / 16
        lengths = np.where(rng.random(k) < 0.25, 0.0, rng.exponential(0.3, k))
        intervals = np.stack([starts, starts + lengths], 1)
        tol = float(rng.choice([0.0, 0.05, 0.2]))
        got_m, got_p = frame_means(times, feats, valid, intervals, tolerance=tol)
        ref_m, ref_p = naive_means(times, feats, valid, intervals, tol)
        np.testing.assert_array_equal(got_p, ref_p, err_msg=f"trial {trial}")
        np.testing.assert_allclose(got_m, ref_m.astype(np.float32), rtol=1e-5, atol=1e-5, err_msg=f"trial {trial}")


# --------------------------------------------------------------------------- steps


def _timeline():
    """Three words with a short and a long pause; 8 Hz audio, 4 Hz video."""
    words = [
        ("hello", 1.0, 1.375, vec(1, 0, 0)),
        ("zxqv", 1.5, 2.0, None, True),  # OOV
        ("world", 3.25, 3.5, vec(0, 0, 1)),
    ]
    at = np.arange(0, 5, 0.125)
    af = np.stack([at, -at], 1).astype(np.float32)
    vt = np.arange(0, 5, 0.25)
    vf = (vt[:, None] * np.ones((1, 3))).astype(np.float32)
    return words, FrameSeries(at, af), FrameSeries(vt, vf)


def test_build_steps_words_and_pseudo_steps_in_gaps():
    words, a, v = _timeline()
    steps = build_steps(words, a, v, t_start=0.0, t_end=5.0, pseudo_step=0.5, tolerance=0.05)
    got = [(s.word, s.start, s.end) for s in steps]
    assert got == [
        (None, 0.0, 0.5),
        (None, 0.5, 1.0),  # before the first word: 1.0 s -> 2 pseudo-steps
        ("hello", 1.0, 1.375),
        ("zxqv", 1.5, 2.0),  # 0.125 s pause: no pseudo-step
        (None, 2.25, 2.75),
        (None, 2.75, 3.25),  # 1.25 s pause: 2 pseudo-steps anchored at the next word
        ("world", 3.25, 3.5),
        (None, 3.5, 4.0),
        (None, 4.0, 4.5),
        (None, 4.5, 5.0),  # after the last word up to t_end
    ]
    hello, oov, world = steps[2], steps[3], steps[6]
    np.testing.assert_array_equal(hello.text, vec(1, 0, 0))
    assert hello.has_text and not hello.oov
    # acoustic mean over frames 1.0, 1.125, 1.25 (1.375 excluded)
    np.testing.assert_allclose(hello.acoustic, [1.125, -1.125], atol=1e-6)
    np.testing.assert_allclose(hello.visual, [1.125] * 3, atol=1e-6)  # frames 1.0, 1.25
    # OOV word keeps its step and its frames, text is zero and masked
    assert oov.word == "zxqv" and oov.oov and not oov.has_text
    np.testing.assert_array_equal(oov.text, np.zeros(3, np.float32))
    assert oov.has_acoustic and oov.has_visual
    np.testing.assert_allclose(oov.acoustic, [1.6875, -1.6875], atol=1e-6)
    for s in steps:
        if s.word is None:
            assert not s.has_text and not s.oov and s.end - s.start == 0.5
            assert not s.text.any()
            np.testing.assert_allclose(s.acoustic[0], (s.start + s.end - 0.125) / 2, atol=1e-6)
    assert world.has_text


def test_build_steps_pending_word_and_future_frames_are_not_used():
    words, a, v = _timeline()
    # at t_end=3.375 "world" (ends 3.5) has not committed: its time is pseudo-steps
    steps = build_steps(words, a, v, t_start=0.0, t_end=3.375, pseudo_step=0.5)
    assert [s.word for s in steps][-3:] == ["zxqv", None, None]
    assert (steps[-1].start, steps[-1].end) == (2.875, 3.375)
    # frames at or after t_end never count, even within tolerance of the last step
    only = build_steps(
        [], FrameSeries([3.375, 3.4], [[7.0], [8.0]]), None, 2.875, 3.375, text_dim=2, visual_dim=1, tolerance=0.1
    )
    assert len(only) == 1 and not only[0].has_acoustic and not only[0].has_visual


def test_pseudo_steps_do_not_move_with_t_start_and_can_be_disabled():
    words, a, v = _timeline()
    full = build_steps(words, a, v, 0.0, 5.0)
    later = build_steps(words, a, v, 0.375, 5.0)
    assert [(s.start, s.end) for s in later] == [(s.start, s.end) for s in full[1:]]
    none = build_steps(words, a, v, 0.0, 5.0, pseudo_step=None)
    assert [s.word for s in none] == ["hello", "zxqv", "world"]
    assert len(build_steps(words, a, v, 0.0, 5.0, max_steps=4)) == 4
    assert [s.start for s in build_steps(words, a, v, 0.0, 5.0, max_steps=4)] == [s.start for s in full[-4:]]


def test_step_intervals_counts_and_lengths():
    starts, ends, widx = step_intervals([2.0], [2.5], 0.0, 4.25, pseudo_step=1.0)
    assert widx.tolist() == [-1, -1, 0, -1]
    np.testing.assert_array_equal(starts, [0.0, 1.0, 2.0, 3.25])
    np.testing.assert_array_equal(ends, [1.0, 2.0, 2.5, 4.25])
    # gap of exactly one pseudo-step holds one; a shorter one holds none
    assert step_intervals([], [], 0.0, 0.5, 0.5)[2].tolist() == [-1]
    assert step_intervals([], [], 0.0, 0.49, 0.5)[2].tolist() == []
    with pytest.raises(AlignmentError, match="pseudo_step"):
        step_intervals([], [], 0.0, 1.0, 0.0)


def test_short_word_without_frames_uses_nearest_or_goes_absent():
    at = np.array([0.0, 0.25, 0.5])
    a = FrameSeries(at, [[1.0], [2.0], [3.0]])
    words = [("a", 0.3125, 0.34375, vec(1.0)), ("b", 0.375, 0.40625, vec(2.0))]
    steps = build_steps(words, a, None, 0.0, 1.0, tolerance=0.0625, pseudo_step=None, visual_dim=2)
    assert steps[0].has_acoustic and steps[0].acoustic[0] == 2.0  # 0.0625 after frame .25
    assert not steps[1].has_acoustic and steps[1].acoustic[0] == 0.0  # .09375 from .5, .125 from .25
    assert not steps[0].has_visual and steps[0].visual.shape == (2,)


def test_word_inputs_are_coerced_and_checked():
    class Timed:
        word, start, end, vector = "hi", 0.0, 0.25, [1.0, 2.0]

    w = as_word(Timed())
    assert isinstance(w, WordInput) and w.vector.dtype == np.float32 and not w.oov
    assert as_word(("x", 0.5, 0.25)).end == 0.5  # reversed times clamp to zero length
    assert as_word(("x", 0.0, 0.25)).oov  # no vector -> OOV
    with pytest.raises(AlignmentError, match="expected"):
        as_word(("x", 0.0))
    with pytest.raises(AlignmentError, match="finite"):
        as_word(("x", np.nan, 1.0, None))
    with pytest.raises(AlignmentError, match="expected 3"):
        build_steps([("a", 0, 1, vec(1, 2, 3)), ("b", 1, 2, vec(1, 2))], None, None, 0, 2, acoustic_dim=1, visual_dim=1)
    with pytest.raises(AlignmentError, match="text_dim"):
        build_steps([], None, None, 0, 2, acoustic_dim=1, visual_dim=1)
    with pytest.raises(AlignmentError, match="visual: frames have 2 features each, expected 3"):
        build_steps([], None, (np.zeros(1), np.zeros((1, 2))), 0, 2, text_dim=1, acoustic_dim=1, visual_dim=3)


# --------------------------------------------------------------------------- windows


def test_make_window_pads_in_front_with_masks():
    words, a, v = _timeline()
    steps = build_steps(words, a, v, 0.0, 5.0)
    w = make_window(steps, n=14)
    assert w.length == 14
    pad = 14 - len(steps)
    assert pad == 4
    assert not w.step_mask[:pad].any() and w.step_mask[pad:].all()
    assert np.isnan(w.starts[:pad]).all() and np.isnan(w.ends[:pad]).all()
    assert w.words[:pad] == [None] * pad
    assert w.words[pad:] == [s.word for s in steps]
    for arr in (w.text, w.acoustic, w.visual):
        assert arr.dtype == np.float32 and not arr[:pad].any()
    assert w.text_mask.tolist() == [False] * pad + [s.has_text for s in steps]
    assert w.text_mask.sum() == 2  # hello, world (the OOV word is masked)
    np.testing.assert_array_equal(w.text[pad + 2], vec(1, 0, 0))
    np.testing.assert_array_equal(w.acoustic[pad:], np.stack([s.acoustic for s in steps]))
    assert w.modality_mask.tolist() == [True, True, True]
    assert w.span == (0.0, 5.0)


def test_make_window_takes_last_n_in_time_order():
    words, a, v = _timeline()
    steps = build_steps(words, a, v, 0.0, 5.0)
    shuffled = [steps[i] for i in np.random.default_rng(3).permutation(len(steps))]
    w = make_window(shuffled, n=4)
    assert w.step_mask.all()
    assert w.starts.tolist() == [s.start for s in steps[-4:]]
    assert w.words == ["world", None, None, None]


def test_window_without_face_marks_visual_absent():
    words, a, _ = _timeline()
    vt = np.arange(0, 5, 0.25)
    no_face = FrameSeries(vt, np.full((len(vt), 3), 9.0), np.zeros(len(vt), bool))
    w = make_window(build_steps(words, a, no_face, 0.0, 5.0), n=20)
    assert not w.visual_mask.any() and not w.visual.any()
    assert w.modality_mask.tolist() == [True, True, False]
    # no camera at all behaves the same
    w2 = make_window(build_steps(words, a, None, 0.0, 5.0, visual_dim=3), n=20)
    assert w2.modality_mask.tolist() == [True, True, False]
    # and silence without words: only pseudo-steps, text absent
    w3 = make_window(build_steps([], a, None, 0.0, 2.0, text_dim=3, visual_dim=3), n=20)
    assert w3.step_mask.sum() == 4 and w3.modality_mask.tolist() == [False, True, False]


def test_make_window_of_no_steps_and_bad_steps():
    w = make_window([], n=5, dims=(3, 2, 1))
    assert not w.step_mask.any() and w.text.shape == (5, 3) and w.visual.shape == (5, 1)
    assert not w.modality_mask.any()
    with pytest.raises(AlignmentError, match="dims"):
        make_window([], n=5)
    bad = Step(0.0, 1.0, "x", np.zeros(3), np.zeros(4), np.zeros(1))
    with pytest.raises(AlignmentError, match=r"acoustic vector has shape \(4,\), expected \(2,\)"):
        make_window([bad], n=5, dims=(3, 2, 1))
    # a masked-off modality is zeroed even when the step carries numbers
    odd = Step(0.0, 1.0, "x", np.ones(3), np.ones(2), np.ones(1), has_acoustic=False)
    w = make_window([odd], n=2)
    assert not w.acoustic.any() and w.text[1].tolist() == [1, 1, 1]


def test_windows_over_per_step_and_at_times():
    words, a, v = _timeline()
    steps = build_steps(words, a, v, 0.0, 5.0)
    per_step = windows_over(steps, n=3)
    assert len(per_step) == len(steps)
    assert per_step[0].step_mask.tolist() == [False, False, True]
    for i, w in enumerate(per_step):
        assert w.ends[-1] == steps[i].end
        assert_windows_equal(w, make_window(steps[: i + 1], n=3))
    at = windows_over(steps, n=3, times=[0.25, 1.375, 3.0, 10.0])
    assert at[0].step_mask.sum() == 0
    assert at[1].words == [None, None, "hello"]
    assert at[2].words == ["hello", "zxqv", None]  # (2.25, 2.75) has ended by 3.0, (2.75, 3.25) not yet
    assert at[2].ends[-1] == 2.75
    assert_windows_equal(at[3], make_window(steps, n=3))
    hop = windows_over(steps, n=3, hop=1.0)
    assert len(hop) == 5 and hop[-1].ends[-1] == 5.0


def test_windows_at_equals_live_construction():
    words, a, v = _timeline()
    times = [0.5, 1.4, 2.0, 2.6, 3.5, 4.9]
    got = windows_at(words, a, v, times, t_start=0.0, n=4)
    for t, w in zip(times, got):
        assert_windows_equal(w, make_window(build_steps(words, a, v, 0.0, t), n=4))
        assert np.nanmax(w.ends) <= t
    # the latest pseudo-step always ends at the query time during silence
    assert got[3].ends[-1] == 2.6 and got[3].words[-1] is None


# --------------------------------------------------------------------------- streaming


def _random_timeline(rng, duration=30.0, d=(4, 3, 2)):
    d_t, d_a, d_v = d
    words, t = [], float(rng.uniform(0, 1))
    while t < duration - 1:
        length = float(rng.choice([0.0, 0.01, rng.uniform(0.1, 0.6)]))
        vecv = None if rng.random() < 0.15 else rng.normal(size=d_t).astype(np.float32)
        words.append(WordInput(f"w{len(words)}", t, t + length, vecv))
        gap = float(rng.choice([0.0, rng.uniform(0.0, 0.3), rng.uniform(0.5, 3.0)]))
        t += length + (gap if length > 0 else max(gap, 0.01))  # no two words with the same interval
    at = np.arange(0, duration, 0.01) + rng.uniform(0, 0.01)
    af = rng.normal(size=(len(at), d_a)).astype(np.float32)
    av = rng.random(len(at)) < 0.8
    vt = np.arange(0, duration, 1 / 15)
    vf = rng.normal(size=(len(vt), d_v)).astype(np.float32)
    vv = (vt % 10) < 6  # the face leaves for 4 s every 10 s
    return words, (at, af, av), (vt, vf, vv)


def _feed(aligner, rng, words, ac, vi, upto):
    """Add everything with time < upto in random interleaved chunks."""
    jobs = []
    for kind, (t, f, v) in (("a", ac), ("v", vi)):  # noqa: B007
        sel = np.flatnonzero(t < upto)
        cuts = np.sort(rng.choice(len(sel), size=min(len(sel), 12), replace=False)) if len(sel) else []
        for chunk in np.split(sel, cuts):
            if len(chunk):
                jobs.append((kind, chunk))
    done = [w for w in words if w.end < upto]
    for i in range(0, len(done), 3):
        jobs.append(("w", done[i : i + 3]))
    for j in rng.permutation(len(jobs)):
        kind, payload = jobs[j]
        if kind == "w":
            aligner.add_words(payload)
        else:
            t, f, v = ac if kind == "a" else vi
            getattr(aligner, "add_acoustic" if kind == "a" else "add_visual")(t[payload], f[payload], v[payload])


def test_streaming_equals_batch():
    rng = np.random.default_rng(7)
    words, ac, vi = _random_timeline(rng)
    al = StreamingAligner(4, 3, 2, n=20, keep_seconds=1000.0, t0=0.0)
    _feed(al, rng, words, ac, vi, upto=30.0)
    times = [3.0, 11.7, 17.25, 29.99]
    batch = windows_at(words, ac, vi, times, t_start=0.0, n=20)
    for t, ref in zip(times, batch):
        assert_windows_equal(al.window(t), ref)
    assert batch[-1].step_mask.all()
    assert batch[-1].visual_mask.any() and not batch[-1].visual_mask.all()


def test_streaming_trims_old_data_and_still_matches():
    rng = np.random.default_rng(11)
    words, ac, vi = _random_timeline(rng, duration=60.0)
    al = StreamingAligner(4, 3, 2, n=8, keep_seconds=15.0, t0=0.0)
    _feed(al, rng, words, ac, vi, upto=60.0)
    counts = al.buffered()
    assert 1400 <= counts["acoustic"] <= 1510  # ~15 s at 100 Hz, not 6000
    assert counts["visual"] <= 15 * 15 + 2
    assert 0 < counts["words"] < len(words)
    assert min(w.end for w in al._words) >= al.latest - 15.0
    ref = windows_at(words, ac, vi, [59.9], t_start=0.0, n=8)[0]
    assert_windows_equal(al.window(59.9), ref)


def test_streaming_window_is_pseudo_steps_until_words_commit():
    al = StreamingAligner(2, 1, 1, n=5, t0=0.0)
    al.add_acoustic(np.arange(0, 2, 0.125), np.ones((16, 1)))
    w = al.window(2.0)
    assert w.words == [None, None, None, None, None] and w.step_mask.sum() == 4
    assert w.modality_mask.tolist() == [False, True, False]
    al.add_words([("yes", 1.0, 1.5, vec(1, 1))])
    w = al.window(2.0)
    assert w.words[-2:] == ["yes", None] and w.text_mask[-2] and w.ends[-1] == 2.0
    assert al.window().ends[-1] == 2.0  # default t_now: latest time seen


def test_streaming_rejects_wrong_dims_and_handles_empty():
    al = StreamingAligner(2, 3, 4)
    assert not al.window(1.0).step_mask.any()  # nothing added yet
    with pytest.raises(AlignmentError, match="acoustic: frames have 2 features each, expected 3"):
        al.add_acoustic([0.0], np.zeros((1, 2)))
    with pytest.raises(AlignmentError, match="expected 2"):
        al.add_words([("x", 0, 1, vec(1, 2, 3))])
    al.add_visual([], np.zeros((0, 4)))
    assert al.buffered() == {"acoustic": 0, "visual": 0, "words": 0}


@pytest.mark.slow
def test_streaming_is_thread_safe():
    rng = np.random.default_rng(5)
    words, ac, vi = _random_timeline(rng, duration=20.0)
    al = StreamingAligner(4, 3, 2, n=20, keep_seconds=1000.0, t0=0.0)
    errors: list[BaseException] = []

    def run(fn):
        try:
            fn()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def add_frames(kind, series):
        t, f, v = series
        for i in range(0, len(t), 7):
            getattr(al, kind)(t[i : i + 7], f[i : i + 7], v[i : i + 7])

    def add_words():
        for w in words:
            al.add_words([w])

    def read():
        for _ in range(200):
            w = al.window()
            assert w.length == 20

    threads = [
        threading.Thread(target=run, args=(fn,))
        for fn in (lambda: add_frames("add_acoustic", ac), lambda: add_frames("add_visual", vi), add_words, read, read)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert_windows_equal(al.window(19.99), windows_at(words, ac, vi, [19.99], t_start=0.0, n=20)[0])


# --------------------------------------------------------------------------- within-step dynamics


def _dynamics_timeline(seed: int = 3):
    rng = np.random.default_rng(seed)
    n = 700
    t = np.arange(n) * 0.01 + 0.005
    f = rng.normal(size=(n, 6)).astype(np.float32) * np.array([50, 1, 2, 3, 1, 5], np.float32)
    return t, f, rng.random(n) > 0.35


def test_step_dynamics_are_the_std_and_mean_abs_change_of_the_valid_frames_in_each_step():
    t, f, v = _dynamics_timeline()
    dyn = (0, 2, 5)
    steps = build_steps([], (t, f, v), None, 0.0, 7.0, text_dim=2, visual_dim=1, acoustic_dynamics=dyn)
    plain = build_steps([], (t, f, v), None, 0.0, 7.0, text_dim=2, visual_dim=1)
    assert len(steps) == 14 and all(s.acoustic.shape == (6 + 2 * len(dyn),) for s in steps)
    for s, p in zip(steps, plain):
        x = f[(t >= s.start) & (t < s.end) & v].astype(np.float64)[:, dyn]
        np.testing.assert_allclose(s.acoustic[:6], p.acoustic)  # the means are the plain steps'
        np.testing.assert_allclose(s.acoustic[6:9], x.std(axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s.acoustic[9:], np.abs(np.diff(x, axis=0)).mean(axis=0), rtol=1e-5, atol=1e-5)


def test_step_dynamics_of_one_frame_or_a_filled_step_are_zero_and_bad_columns_are_one_line_errors():
    t = np.array([0.105, 0.6])
    f = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)
    steps = build_steps([], (t, f, None), None, 0.0, 1.0, text_dim=2, visual_dim=1, acoustic_dynamics=(1,))
    assert [list(s.acoustic) for s in steps] == [[1.0, 2.0, 0.0, 0.0], [3.0, 5.0, 0.0, 0.0]]
    with pytest.raises(AlignmentError, match="dynamics column 2 is outside the frames' 2 columns"):
        build_steps([], (t, f, None), None, 0.0, 1.0, text_dim=2, visual_dim=1, acoustic_dynamics=(2,))
    with pytest.raises(AlignmentError, match="dynamics column"):
        StreamingAligner(2, 2, 1, acoustic_dynamics=(-1,))


def test_streaming_with_dynamics_equals_batch_whatever_the_chunks():
    t, f, v = _dynamics_timeline(5)
    dyn = (1, 3)
    words = [WordInput("hi", 1.0, 1.3, np.ones(2, np.float32)), WordInput("there", 2.2, 2.5, np.ones(2, np.float32))]
    al = StreamingAligner(2, 6, 1, n=12, t0=0.0, acoustic_dynamics=dyn)
    assert al.dims == (2, 10, 1) and al.frame_dims == (2, 6, 1)
    al.add_words(words)
    for k in range(0, len(t), 37):  # chunks that cut steps anywhere
        al.add_acoustic(t[k : k + 37], f[k : k + 37], v[k : k + 37])
    for now in (0.7, 3.33, 6.9):
        w = al.window(now)
        (b,) = windows_at(
            words, (t, f, v), None, [now], t_start=0.0, n=12, text_dim=2, visual_dim=1, acoustic_dynamics=dyn
        )
        assert w.acoustic.shape == (12, 10)
        np.testing.assert_array_equal(w.acoustic, b.acoustic)
        np.testing.assert_array_equal(w.acoustic_mask, b.acoustic_mask)
