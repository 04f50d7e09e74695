"""The overlay drawn over a BGR frame (live window, recorded video, file mode's annotated video).

:func:`render` draws an :class:`OverlayState` onto a frame in place:

* the face box and a few key action units next to it;
* one bar per emotion, sorted by probability, user-added emotions marked ``+``;
* how much each modality contributed to the top emotion (stacked bar + signed values);
* a rolling transcript caption;
* fps and the latency of the freshest result;
* badges: ``no face``, ``silence``, ``<modality> off``, ``no camera``, ``no mic``;
* an input prompt while an emotion word is typed.

Only OpenCV primitives on small regions are used, so a 640x360 frame takes
about a millisecond. :func:`blank_canvas` stands in for the frame when there is
no camera. The pure helpers (:func:`caption_tail`, :func:`contribution_shares`,
:func:`rank_emotions`) are tested on their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

#: The action units shown beside the face box (FACS name, short label).
KEY_AUS: tuple[tuple[str, str], ...] = (
    ("AU01", "brow up"),
    ("AU04", "brow down"),
    ("AU06", "cheek"),
    ("AU12", "smile"),
    ("AU15", "frown"),
    ("AU26", "jaw"),
)
#: BGR colour per modality.
MODALITY_COLOURS = {"text": (80, 200, 255), "acoustic": (255, 170, 60), "visual": (120, 230, 120)}
MODALITY_SHORT = {"text": "text", "acoustic": "voice", "visual": "face"}
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (255, 255, 255)
_GREY = (170, 170, 170)
_BAR = (90, 200, 255)
_BAR_TOP = (60, 140, 255)
_USER = (230, 120, 255)
_BADGE_BG = (40, 40, 200)


@dataclass
class OverlayState:
    """Everything the overlay shows; every field is optional."""

    emotions: Sequence[str] = ()
    probabilities: Sequence[float] | np.ndarray = ()  # smoothed, aligned with emotions; NaN = unknown
    user_added: set[str] | frozenset[str] = frozenset()
    contributions: Mapping[str, Sequence[float] | np.ndarray] = field(default_factory=dict)  # per modality, (K,)
    modalities_requested: Sequence[str] = ("text", "acoustic", "visual")
    modalities_used: Sequence[str] = ()
    face_box: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) in frame pixels
    other_boxes: Sequence[tuple[float, float, float, float]] = ()  # the other faces (boxes only; bars: face_box's)
    face_labels: Sequence[str] = ()  # one label per box (face_box first, then other_boxes), e.g. "#1 happy 0.62"
    aus: Mapping[str, float] = field(default_factory=dict)
    face_present: bool | None = None  # None: unknown (no camera)
    voice_present: bool | None = None  # None: unknown (no mic)
    voice_reason: str | None = None  # why no voice (the speech gate's reason); None: silence or unknown
    camera_on: bool = True
    mic_on: bool = True
    transcript: str = ""
    fps: float | None = None
    latency: float | None = None  # seconds
    prompt: str | None = None  # text being typed for a new emotion; None when not typing
    message: str | None = None  # a short status line (e.g. "added 'bored'")
    prompt_label: str = "add emotion"  # what the typed word is for ("add emotion", "teach emotion")
    calibrated: bool = False  # scores are relative to the user's neutral baseline


def blank_canvas(width: int = 640, height: int = 360, shade: int = 32) -> np.ndarray:
    """A dark BGR canvas for when there is no camera."""
    return np.full((int(height), int(width), 3), int(shade), dtype=np.uint8)


# --------------------------------------------------------------------------- pure helpers


def rank_emotions(emotions: Sequence[str], probabilities: Sequence[float] | np.ndarray) -> list[tuple[str, float]]:
    """(emotion, probability) sorted high to low; NaN (unknown) last, ties by name order."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if len(p) != len(emotions):
        raise ValueError(f"overlay: {len(emotions)} emotions but {len(p)} probabilities")
    order = sorted(range(len(emotions)), key=lambda i: (bool(np.isnan(p[i])), -float(np.nan_to_num(p[i])), i))
    return [(emotions[i], float(p[i])) for i in order]


def contribution_shares(
    contributions: Mapping[str, Sequence[float] | np.ndarray], index: int
) -> dict[str, tuple[float, float]]:
    """For emotion ``index``: modality -> (signed contribution, share of the total absolute contribution).

    Shares are in [0, 1] and sum to 1 over the modalities (all 0 when every
    contribution is 0). Modalities with non-finite values are left out.
    """
    vals: dict[str, float] = {}
    for m, arr in contributions.items():
        a = np.asarray(arr, dtype=np.float64).reshape(-1)
        if 0 <= index < a.shape[0] and math.isfinite(a[index]):
            vals[m] = float(a[index])
    total = sum(abs(v) for v in vals.values())
    return {m: (v, (abs(v) / total) if total > 0 else 0.0) for m, v in vals.items()}


def caption_tail(text: str, max_chars: int, max_lines: int = 2) -> list[str]:
    """The end of ``text`` wrapped at word boundaries into at most ``max_lines`` lines of ``max_chars``.

    Earlier words scroll out, as a rolling caption does. A single word longer
    than a line is cut from the left.
    """
    words = text.split()
    if not words or max_chars < 1 or max_lines < 1:
        return []
    lines: list[str] = []
    cur = ""
    for w in reversed(words):
        if len(w) > max_chars:
            w = w[-max_chars:]
        cand = w if not cur else f"{w} {cur}"
        if len(cand) <= max_chars:
            cur = cand
            continue
        lines.append(cur)
        if len(lines) == max_lines:
            cur = ""
            break
        cur = w
    if cur:
        lines.append(cur)
    return list(reversed(lines[:max_lines]))


def badges(state: OverlayState) -> list[str]:
    """The status badges shown for ``state`` (no face, silence, modality off, no camera/mic)."""
    out: list[str] = []
    req = set(state.modalities_requested)
    if not state.camera_on:
        out.append("no camera")
    elif state.face_present is False and "visual" in req:
        out.append("no face")
    if not state.mic_on:
        out.append("no mic")
    elif state.voice_present is False and req & {"text", "acoustic"}:
        out.append("no speech" if state.voice_reason and "silence" not in state.voice_reason else "silence")
    for m in ("text", "acoustic", "visual"):
        if m not in req:
            out.append(f"{MODALITY_SHORT[m]} off")
    if state.calibrated:
        out.append("calibrated")
    return out


# --------------------------------------------------------------------------- drawing


def _text(img: np.ndarray, s: str, org: tuple[int, int], scale: float, colour=_WHITE, thick: int = 1) -> None:
    import cv2

    # OpenCV 5 renders LINE_AA text with a TrueType font (fast); LINE_8 is ~10x slower, and a thicker
    # "shadow" pass changes glyph widths, so text sits on shaded panels instead
    cv2.putText(img, s, org, _FONT, scale, colour, thick, cv2.LINE_AA)


def _shade(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, alpha: float = 0.55) -> None:
    """Darken a rectangle in place (cheap translucent panel)."""
    h, w = img.shape[:2]
    x0, x1 = max(0, x0), min(w, x1)
    y0, y1 = max(0, y0), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    np.multiply(roi, 1.0 - alpha, out=roi, casting="unsafe")


def _draw_face(img: np.ndarray, st: OverlayState, s: float) -> None:
    import cv2

    if st.face_box is None or not st.face_present:
        return
    h, w = img.shape[:2]
    labels = list(st.face_labels)
    for k, box in enumerate(st.other_boxes):  # every other face gets a box; the bars and AUs are the largest face's
        bx0, by0, bx1, by1 = (int(round(v)) for v in box)
        cv2.rectangle(
            img,
            (max(0, bx0), max(0, by0)),
            (min(w - 1, bx1), min(h - 1, by1)),
            (230, 190, 90),
            max(1, int(round(1.5 * s))),
            cv2.LINE_8,
        )
        if k + 1 < len(labels) and labels[k + 1]:
            _text(img, labels[k + 1], (max(0, bx0), max(int(12 * s), by0 - int(4 * s))), 0.42 * s, (230, 190, 90))
    x0, y0, x1, y1 = (int(round(v)) for v in st.face_box)
    x0, x1 = max(0, min(w - 1, x0)), max(0, min(w - 1, x1))
    y0, y1 = max(0, min(h - 1, y0)), max(0, min(h - 1, y1))
    if x1 <= x0 or y1 <= y0:
        return
    cv2.rectangle(img, (x0, y0), (x1, y1), (120, 230, 120), max(1, int(round(2 * s))), cv2.LINE_8)
    if labels and labels[0]:
        _text(img, labels[0], (x0, max(int(12 * s), y0 - int(4 * s))), 0.42 * s, (120, 230, 120))
    if not st.aus:
        return
    row = int(round(14 * s))
    bar_w = int(round(40 * s))
    label_w = int(round(64 * s))
    panel_w = label_w + bar_w + int(6 * s)
    n = sum(1 for k, _ in KEY_AUS if k in st.aus)
    # beside the box, on whichever side has room
    px = x1 + int(6 * s) if x1 + panel_w + int(6 * s) < w * 0.68 else max(0, x0 - panel_w - int(6 * s))
    py = max(0, y0)
    _shade(img, px, py, px + panel_w, py + row * n + int(4 * s), 0.5)
    i = 0
    for k, label in KEY_AUS:
        if k not in st.aus:
            continue
        v = float(st.aus[k])
        v = 0.0 if not math.isfinite(v) else min(max(v, 0.0), 1.0)
        y = py + row * (i + 1)
        _text(img, label, (px + 2, y - int(2 * s)), 0.36 * s, _GREY)
        bx = px + label_w
        cv2.rectangle(img, (bx, y - int(10 * s)), (bx + bar_w, y - int(3 * s)), (70, 70, 70), -1)
        cv2.rectangle(img, (bx, y - int(10 * s)), (bx + int(bar_w * v), y - int(3 * s)), (120, 230, 120), -1)
        i += 1


def _draw_bars(img: np.ndarray, st: OverlayState, s: float) -> int:
    """Emotion bars in the right panel; returns the y below them."""
    import cv2

    h, w = img.shape[:2]
    pw = int(round(200 * s))
    x0 = w - pw - int(6 * s)
    row = int(round(17 * s))
    ranked = rank_emotions(list(st.emotions), st.probabilities) if len(st.emotions) else []
    y0 = int(8 * s)
    n = len(ranked)
    contrib_h = int(round(40 * s)) if st.contributions else 0
    _shade(img, x0 - int(4 * s), y0 - int(4 * s), w, y0 + row * n + contrib_h + int(8 * s))
    name_w = int(round(78 * s))
    bar_max = pw - name_w - int(38 * s)
    for i, (name, p) in enumerate(ranked):
        y = y0 + row * (i + 1)
        user = name in st.user_added
        label = ("+" + name) if user else name
        if len(label) > 11:
            label = label[:10] + "."
        colour = _USER if user else _WHITE
        _text(img, label, (x0, y - int(4 * s)), 0.42 * s, colour)
        bx = x0 + name_w
        top = i == 0 and not math.isnan(p)
        cv2.rectangle(img, (bx, y - int(13 * s)), (bx + bar_max, y - int(4 * s)), (60, 60, 60), -1)
        if not math.isnan(p):
            pv = min(max(p, 0.0), 1.0)
            cv2.rectangle(
                img,
                (bx, y - int(13 * s)),
                (bx + int(bar_max * pv), y - int(4 * s)),
                _USER if user else (_BAR_TOP if top else _BAR),
                -1,
            )
            _text(img, f"{int(round(pv * 100)):d}%", (bx + bar_max + int(3 * s), y - int(4 * s)), 0.38 * s, _GREY)
        else:
            _text(img, "--", (bx + bar_max + int(3 * s), y - int(4 * s)), 0.38 * s, _GREY)
    y = y0 + row * n
    if contrib_h and ranked and not math.isnan(ranked[0][1]):
        top_name = ranked[0][0]
        idx = list(st.emotions).index(top_name)
        shares = contribution_shares(st.contributions, idx)
        _text(img, f"why '{top_name}':", (x0, y + int(13 * s)), 0.38 * s, _GREY)
        bx, by = x0, y + int(18 * s)
        bw = pw - int(4 * s)
        cx = bx
        for m in ("text", "acoustic", "visual"):
            if m not in shares:
                continue
            seg = int(round(bw * shares[m][1]))
            if seg > 0:
                cv2.rectangle(img, (cx, by), (cx + seg, by + int(7 * s)), MODALITY_COLOURS[m], -1)
            cx += seg
        tx = bx
        for m in ("text", "acoustic", "visual"):
            if m not in shares:
                continue
            lab = f"{m[0]}{shares[m][0]:+.1f}"
            _text(img, lab, (tx, by + int(20 * s)), 0.38 * s, MODALITY_COLOURS[m])
            tx += int(round(56 * s))
        y += contrib_h
    return y


def _draw_status(img: np.ndarray, st: OverlayState, s: float) -> None:
    import cv2

    parts = []
    if st.fps is not None and math.isfinite(st.fps):
        parts.append(f"{st.fps:4.1f} fps")
    if st.latency is not None and math.isfinite(st.latency):
        parts.append(f"{st.latency * 1000:4.0f} ms")
    line = "  ".join(parts)
    x, y = int(8 * s), int(20 * s)
    if line:
        (tw, _), _ = cv2.getTextSize(line, _FONT, 0.5 * s, 1)
        _shade(img, 0, 0, x + tw + int(8 * s), int(28 * s))
        _text(img, line, (x, y), 0.5 * s, _WHITE)
    # modality letters: lit when requested and used, grey when requested but absent, struck when off
    mx = x
    my = y + int(24 * s)
    req = set(st.modalities_requested)
    used = set(st.modalities_used)
    _shade(img, 0, my - int(17 * s), int(8 * s) + int(3 * 22 * s) + int(4 * s), my + int(6 * s))
    for m in ("text", "acoustic", "visual"):
        c = MODALITY_COLOURS[m] if (m in used and m in req) else (_GREY if m in req else (80, 80, 80))
        _text(img, m[0].upper(), (mx, my), 0.55 * s, c, 2 if m in used else 1)
        if m not in req:
            cv2.line(img, (mx - 2, my - int(6 * s)), (mx + int(14 * s), my - int(6 * s)), (80, 80, 220), 2)
        mx += int(22 * s)
    by = my + int(8 * s)
    for b in badges(st):
        (tw, _), _ = cv2.getTextSize(b, _FONT, 0.42 * s, 1)
        tw += int(10 * s)
        cv2.rectangle(img, (x - int(4 * s), by), (x - int(4 * s) + tw, by + int(18 * s)), _BADGE_BG, -1)
        _text(img, b, (x, by + int(13 * s)), 0.42 * s, _WHITE)
        by += int(22 * s)


def _draw_caption(img: np.ndarray, st: OverlayState, s: float) -> None:
    h, w = img.shape[:2]
    line_h = int(round(22 * s))
    scale = 0.55 * s
    max_chars = max(8, int((w - 20 * s) / (11.0 * s)))
    lines = caption_tail(st.transcript, max_chars, 2)
    bottom = h - int(8 * s)
    if st.prompt is not None or st.message:
        bottom -= line_h + int(4 * s)
    if lines:
        top = bottom - line_h * len(lines) - int(6 * s)
        _shade(img, 0, top, w, bottom + int(4 * s), 0.6)
        for i, ln in enumerate(lines):
            _text(img, ln, (int(10 * s), top + line_h * (i + 1) - int(4 * s)), scale, _WHITE)
    if st.prompt is not None or st.message:
        y = h - int(8 * s)
        text = (
            f"{st.prompt_label}: {st.prompt}_  (Enter starts, Esc cancels)"
            if st.prompt is not None
            else str(st.message)
        )
        _shade(img, 0, y - line_h, w, h, 0.7)
        _text(img, text, (int(10 * s), y - int(5 * s)), 0.5 * s, (120, 255, 255))


def render(frame: np.ndarray, state: OverlayState) -> np.ndarray:
    """Draw ``state`` onto the BGR uint8 ``frame`` in place and return it.

    Sizes scale with the frame height (designed at 360 px).
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError("overlay: expected a BGR uint8 frame of shape (H, W, 3)")
    s = max(0.5, frame.shape[0] / 360.0)
    _draw_face(frame, state, s)
    _draw_bars(frame, state, s)
    _draw_status(frame, state, s)
    _draw_caption(frame, state, s)
    return frame


def state_from_result(
    result,
    *,
    face=None,
    transcript: str | None = None,
    camera_on: bool = True,
    mic_on: bool = True,
    fps: float | None = None,
    prompt: str | None = None,
    message: str | None = None,
    modalities: Sequence[str] | None = None,
    face_present: bool | None = None,
    voice_present: bool | None = None,
    voice_reason: str | None = None,
) -> OverlayState:
    """An :class:`OverlayState` from an :class:`livemer.engine.InferenceResult` (or None) and a face result.

    Keyword values override the result's (the live loop passes the freshest
    face, transcript and render fps, which update faster than inference).
    """
    st = OverlayState(camera_on=camera_on, mic_on=mic_on, prompt=prompt, message=message)
    if result is not None:
        st.emotions = list(result.emotions)
        st.probabilities = np.asarray(result.smoothed, dtype=np.float64)
        st.user_added = set(result.user_added)
        st.contributions = dict(result.contributions)
        st.modalities_requested = tuple(result.modalities_requested)
        st.modalities_used = tuple(result.modalities_used)
        st.transcript = result.transcript
        st.face_present = result.face_present if camera_on else None
        st.voice_present = result.voice_present if mic_on else None
        st.voice_reason = result.voice_reason if mic_on else None
        st.fps = result.fps
        st.latency = result.latency
    if modalities is not None:
        st.modalities_requested = tuple(modalities)
    if transcript is not None:
        st.transcript = transcript
    if fps is not None:
        st.fps = fps
    if face_present is not None and camera_on:
        st.face_present = face_present
    if voice_present is not None and mic_on:
        st.voice_present = voice_present
        st.voice_reason = None if voice_present else voice_reason
    if face is not None and getattr(face, "face_found", False):
        st.face_box = face.box
        st.other_boxes = [o.box for o in getattr(face, "others", ()) if o.box is not None]
        st.aus = dict(face.aus)
        st.face_present = True if camera_on else None
    return st
