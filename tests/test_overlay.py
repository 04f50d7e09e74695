"""livemer.overlay: pure helpers and what render() puts on the frame."""

from __future__ import annotations

import numpy as np
import pytest

from livemer.overlay import (
    OverlayState,
    badges,
    blank_canvas,
    caption_tail,
    contribution_shares,
    rank_emotions,
    render,
    state_from_result,
)

_USER_BGR = (230, 120, 255)
_FACE_BGR = (120, 230, 120)


def _count(img, bgr, tol=12):
    return int(np.all(np.abs(img.astype(int) - np.array(bgr)) <= tol, axis=2).sum())


def _state(**kw):
    base = dict(
        emotions=["anger", "happy", "sad", "bored"],
        probabilities=np.array([0.1, 0.8, np.nan, 0.4]),
        user_added={"bored"},
        contributions={"text": np.array([0.1, 0.5, 0.0, 0.2]), "visual": np.array([0.3, -1.5, 0.0, 0.1])},
        modalities_requested=("text", "acoustic", "visual"),
        modalities_used=("text", "visual"),
        face_present=True,
        voice_present=True,
        transcript="the quick brown fox",
        fps=29.5,
        latency=0.12,
    )
    base.update(kw)
    return OverlayState(**base)


def test_rank_emotions_sorts_high_to_low_with_unknown_last():
    ranked = rank_emotions(["a", "b", "c", "d"], [0.2, np.nan, 0.9, 0.2])
    assert [n for n, _ in ranked] == ["c", "a", "d", "b"]
    with pytest.raises(ValueError):
        rank_emotions(["a"], [0.1, 0.2])


def test_contribution_shares_keep_sign_and_sum_to_one():
    sh = contribution_shares({"text": [1.0, 2.0], "acoustic": [-3.0, 0.0], "visual": [np.nan, 1.0]}, 0)
    assert set(sh) == {"text", "acoustic"}  # non-finite values are left out
    assert sh["acoustic"][0] == -3.0
    assert sh["text"][1] == pytest.approx(0.25) and sh["acoustic"][1] == pytest.approx(0.75)
    zero = contribution_shares({"text": [0.0], "visual": [0.0]}, 0)
    assert all(s == 0.0 for _, s in zero.values())


def test_caption_tail_keeps_the_latest_words():
    text = "one two three four five six seven eight nine ten"
    lines = caption_tail(text, 12, 2)
    assert len(lines) == 2 and all(len(ln) <= 12 for ln in lines)
    assert lines[-1].endswith("ten")
    assert " ".join(lines) in text
    assert caption_tail("", 10) == []
    assert caption_tail("supercalifragilistic", 8) == ["agilistic"[-8:]]
    assert caption_tail("a b c", 80, 2) == ["a b c"]


def test_badges_follow_the_state():
    assert badges(_state()) == []
    assert badges(_state(face_present=False, voice_present=False)) == ["no face", "silence"]
    nonspeech = "no speech detected (noise, music or other sound)"
    assert badges(_state(voice_present=False, voice_reason=nonspeech)) == ["no speech"]
    assert badges(_state(voice_present=False, voice_reason="no speech (silence)")) == ["silence"]
    off = badges(_state(modalities_requested=("text",), face_present=False))
    assert "face off" in off and "voice off" in off and "no face" not in off
    assert badges(_state(camera_on=False, mic_on=False)) == ["no camera", "no mic"]


def test_render_draws_bars_user_marks_and_face_box():
    img = np.full((360, 640, 3), 100, np.uint8)
    st = _state(face_box=(200, 80, 330, 230), aus={"AU12": 0.9, "AU04": 0.1})
    out = render(img, st)
    assert out is img
    assert _count(img, _USER_BGR) > 50  # the user-added emotion's bar is in its own colour
    assert _count(img[78:83, 200:331], _FACE_BGR) > 100  # top edge of the face box
    # right panel is darkened behind the bars, the centre of the frame is untouched
    assert img[10:100, 460:630].mean() < 100
    assert (img[250:280, 300:340] == 100).all()


def test_render_without_user_emotion_or_face_draws_neither():
    img = np.full((360, 640, 3), 100, np.uint8)
    render(img, _state(user_added=set(), face_present=False, face_box=(200, 80, 330, 230)))
    assert _count(img, _USER_BGR) == 0
    assert _count(img[78:83, 200:331], _FACE_BGR) < 10


def test_render_handles_no_result_other_sizes_and_prompt():
    for w, h in ((640, 360), (1280, 720), (320, 180)):
        img = blank_canvas(w, h)
        assert img.shape == (h, w, 3) and img.dtype == np.uint8
        render(img, OverlayState(emotions=["a", "b"], probabilities=[np.nan, np.nan], prompt="bor"))
        assert img.any()
    render(blank_canvas(), OverlayState())  # nothing at all to show


def test_render_rejects_a_non_image():
    with pytest.raises(ValueError, match="BGR"):
        render(np.zeros((10, 10), np.uint8), OverlayState())
    with pytest.raises(ValueError):
        render(np.zeros((10, 10, 3), np.float32), OverlayState())


def test_state_from_result_maps_fields_and_overrides():
    from feature_adapters.face import FaceResult
    from livemer.engine import InferenceResult

    res = InferenceResult(
        t=1.0,
        window_start=0.0,
        window_end=1.0,
        emotions=["a", "b"],
        probabilities=np.array([0.1, 0.9]),
        smoothed=np.array([0.2, 0.8]),
        modality_scores={},
        contributions={"text": np.array([0.0, 1.0])},
        modalities_used=("text",),
        modalities_requested=("text", "visual"),
        user_added=["b"],
        transcript="hi",
        face_present=False,
        voice_present=True,
        fps=10.0,
        latency=0.2,
    )
    face = FaceResult(face_found=True, box=(1, 2, 3, 4), aus={"AU12": 0.5})
    st = state_from_result(res, face=face, transcript="hi there", fps=30.0)
    assert list(st.probabilities) == [0.2, 0.8]  # smoothed values are shown
    assert st.user_added == {"b"} and st.transcript == "hi there" and st.fps == 30.0
    assert st.face_box == (1, 2, 3, 4) and st.face_present is True and st.aus == {"AU12": 0.5}
    none = state_from_result(None, camera_on=False, mic_on=False)
    assert none.emotions == () and badges(none) == ["no camera", "no mic"]


def test_every_face_gets_a_box_and_the_bars_are_the_largest_faces():
    import numpy as np

    from feature_adapters.face import FaceResult
    from livemer.overlay import render, state_from_result

    big = FaceResult(face_found=True, box=(40.0, 60.0, 200.0, 260.0), aus={"AU12": 0.8})
    small = FaceResult(face_found=True, box=(420.0, 200.0, 500.0, 300.0), aus={"AU04": 0.9})
    big.others = [small]
    st = state_from_result(None, face=big)
    assert st.face_box == big.box and st.other_boxes == [small.box] and st.aus == {"AU12": 0.8}
    img = render(np.zeros((360, 640, 3), np.uint8), st)
    assert img[200:300, 420].max() > 0 and img[200:300, 500].max() > 0  # the small face's box edges
    alone = render(np.zeros((360, 640, 3), np.uint8), state_from_result(None, face=small))
    assert alone[250, 421].max() > 0 and img[260, 300:400].max() == 0  # nothing between the two faces
