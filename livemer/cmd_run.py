"""``livemer run``: live emotion recognition from a camera and a microphone (or files played in real time)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from .cli_options import add_model_options, add_scoring_options

KEY_HELP = (
    "keys: q/Esc quit, m cycle modalities, e add an emotion by typing a word, t teach one by showing it, "
    "c calibrate (10 s neutral baseline)"
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="live recognition from a camera and microphone (or video/audio files in real time)",
        description="Recognise emotions live from face, voice and words. A video or audio file stands in for "
        "the camera or microphone and is played in real time. " + KEY_HELP + ".",
    )
    p.add_argument(
        "--camera",
        default="0",
        metavar="INDEX|PATH|none",
        help="camera index, a video file played at its own frame rate, or none (default: 0)",
    )
    p.add_argument(
        "--mic",
        default=None,
        metavar="DEVICE|PATH|none",
        help="sounddevice input (index or name), an audio file played in real time, or none "
        "(default: the camera file's own sound when --camera is a file, else the default input)",
    )
    add_scoring_options(p)
    p.add_argument("--record", metavar="OUT.mp4", help="also write the overlaid video here (finalised on exit)")
    p.add_argument("--headless", action="store_true", help="no window: write one JSON object per result")
    p.add_argument("--jsonl", metavar="OUT.jsonl", help="write results as JSON lines here (headless default: stdout)")
    add_model_options(p)
    p.add_argument(
        "--smoothing",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="time constant of probability smoothing; 0 turns it off (default: 1.0)",
    )
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--rate", type=float, default=8.0, metavar="HZ", help="inference rate (default: 8 per second)")
    p.add_argument("--loop", action="store_true", help="loop a --camera video file")
    p.add_argument(
        "--calibrate",
        type=float,
        metavar="SECONDS",
        help="first take SECONDS of your neutral face and voice as your baseline (stored; the `c` key "
        "does it too); scores are then relative to it",
    )
    p.add_argument("--no-calibration", action="store_true", help="ignore the stored baseline for this run")
    p.add_argument(
        "--max-faces",
        type=int,
        default=1,
        metavar="N",
        help="faces boxed in the overlay, 1 to 5 (default 1; the bars are the largest face's)",
    )
    p.set_defaults(func=run)


def display_problem() -> str | None:
    """Why no window can be shown here, or None when a display seems available."""
    if sys.platform.startswith("linux"):
        disp = os.environ.get("DISPLAY", "")
        if not disp and not os.environ.get("WAYLAND_DISPLAY"):
            return "no display available ($DISPLAY is not set)"
        if disp.startswith(":"):
            num = disp[1:].split(".")[0]
            if num.isdigit() and not Path(f"/tmp/.X11-unix/X{num}").exists():
                return f"no display available (X server {disp} is not running)"
    return None


def _loading_window(title: str, loader: threading.Thread, t_start: float) -> str:
    """Open the window at once and show a loading screen until ``loader`` ends; "quit" on q/Esc.

    Raises :class:`LivemerError` (exit 2) when no window can be opened.
    """
    from .errors import LivemerError

    _qt_fonts()
    try:
        import cv2

        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
    except Exception as exc:  # noqa: BLE001 - cv2.error or a GUI-less OpenCV build
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise LivemerError(f"no display available ({first[:120]}); use --headless", exit_code=2) from None
    from .overlay import blank_canvas

    while loader.is_alive():
        img = blank_canvas(640, 360)
        dots = "." * (1 + int((time.monotonic() - t_start) * 2) % 3)
        cv2.putText(img, f"livemer: loading models{dots}", (40, 170), 0, 0.8, (230, 230, 230), 1, cv2.LINE_AA)
        cv2.putText(img, "q or Esc quits", (40, 210), 0, 0.5, (160, 160, 160), 1, cv2.LINE_AA)
        cv2.imshow(title, img)
        key = cv2.waitKey(50)
        if key != -1 and (key & 0xFF) in (27, ord("q"), ord("Q")):
            return "quit"
    return "ok"


def _qt_fonts() -> None:
    """OpenCV's Qt build looks for fonts inside the wheel (it ships none) and warns; point it at the system's.

    ``import cv2`` sets ``QT_QPA_FONTDIR`` itself; Qt reads it when the first window opens.
    """
    import cv2  # noqa: F401 - sets QT_QPA_FONTDIR

    current = os.environ.get("QT_QPA_FONTDIR")
    if current and Path(current).is_dir():
        return
    for d in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if Path(d).is_dir():
            os.environ["QT_QPA_FONTDIR"] = d
            return


def _default_mic(camera: str | None) -> str | None:
    """The camera file's own sound when it has one; the default input for a camera device."""
    if camera is not None and not camera.strip().isdigit():
        p = Path(camera).expanduser()
        if not p.is_file():
            return None  # the camera error is reported next
        from feature_adapters.audio_io import has_audio_stream

        return str(p) if has_audio_stream(p) else None
    return "default" if _has_default_input() else None


def _has_default_input() -> bool:
    try:
        import sounddevice as sd

        sd.query_devices(kind="input")
        return True
    except Exception:  # noqa: BLE001 - no PortAudio, or no input device
        return False


def _check_output(path: str | None, flag: str) -> None:
    from .errors import LivemerError

    if path is None:
        return
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise LivemerError(f"{flag} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise LivemerError(f"{flag} {path}: folder {parent} is not writable")


def run(args: argparse.Namespace) -> int:
    from .errors import LivemerError

    t_start = time.monotonic()
    if not args.headless:
        why = display_problem()
        if why:
            raise LivemerError(f"{why}; use --headless (with --jsonl FILE or --record FILE)", exit_code=2)
    if args.smoothing < 0:
        raise LivemerError(f"--smoothing must be >= 0 seconds, got {args.smoothing}")
    if args.duration is not None and args.duration <= 0:
        raise LivemerError(f"--duration must be > 0 seconds, got {args.duration}")
    if not args.rate > 0:
        raise LivemerError(f"--rate must be > 0, got {args.rate}")
    if args.calibrate is not None and not (0 < args.calibrate <= 120):
        raise LivemerError(f"--calibrate takes 1-120 seconds, got {args.calibrate:g}")
    if not 1 <= args.max_faces <= 5:
        raise LivemerError(f"--max-faces must be between 1 and 5, got {args.max_faces}")
    _check_output(args.jsonl, "--jsonl")
    _check_output(args.record, "--record")
    camera = None if str(args.camera).strip().lower() in ("none", "off") else str(args.camera)
    mic = args.mic if args.mic is not None else _default_mic(camera)
    if mic is not None and mic.strip().lower() in ("none", "off"):
        mic = None
    if (
        args.mic is None
        and mic is None
        and (camera is None or camera.strip().isdigit() or Path(camera).expanduser().is_file())
    ):
        if camera is not None and Path(camera).expanduser().is_file():
            print(f"livemer: note: {camera} has no sound track; running without a microphone", file=sys.stderr)
        else:
            print("livemer: note: no default microphone; running without one (choose one with --mic)", file=sys.stderr)

    from .engine import EngineConfig
    from .live import JsonlSink, LiveDriver, LiveOptions, StopOnSignals

    opts = LiveOptions(
        camera=camera,
        mic=mic,
        headless=args.headless,
        jsonl=args.jsonl,
        record=args.record,
        duration=args.duration,
        infer_hz=args.rate,
        loop_camera=args.loop,
        max_faces=args.max_faces,
    )
    # Open the inputs first: a missing camera or microphone fails within ~2 s, before models load.
    live = LiveDriver(opts)
    live.open_inputs(wait_files=False)
    config = EngineConfig(
        checkpoint=args.checkpoint,
        emotions=args.emotions,
        modalities=args.modalities,
        face_backend=args.face_backend,
        asr_model=args.asr_model,
        smoothing_tau=args.smoothing,
        glove=args.glove,
        threads=1,
        calibration=not args.no_calibration,
    )
    loaded: dict = {}

    def load() -> None:
        try:  # face, speech and voice stages load while the emotion model loads
            loaded["engine"] = live.load(config)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            loaded["error"] = exc

    try:
        if args.headless or args.jsonl:
            live.jsonl = JsonlSink(args.jsonl)
        loader = threading.Thread(target=load, name="load", daemon=True)
        loader.start()
        if args.headless:
            while loader.is_alive():
                loader.join(0.1)
        else:
            if _loading_window(opts.window_title, loader, t_start) == "quit":
                live.stop()
                live.close_outputs()
                print("livemer: stopped while loading", file=sys.stderr)
                sys.stderr.flush()
                os._exit(0)  # the loader is inside library imports; nothing has been written yet
            print(f"livemer: {KEY_HELP}", file=sys.stderr)
        if "error" in loaded:
            raise loaded["error"]
        engine = loaded["engine"]
        for note in getattr(engine, "notes", []):
            print(f"livemer: note: {note}", file=sys.stderr)
        for n in live.notices:
            print(f"livemer: note: {n}", file=sys.stderr)
        shown = len(live.notices)
    except BaseException:
        live.stop()
        live.join(0.5)
        live.close_outputs()
        raise
    from .teach_live import LiveControls

    controls = LiveControls(engine, show=live.view.show_message)
    live.view.status_fn = controls.status
    if args.calibrate:
        controls.calibrate(float(args.calibrate))
    keys = _KeyHandler(live.view, engine, controls)
    with StopOnSignals(live.stop) as sig:
        live.run(on_key=keys)
    alive = live.join(0.2)
    st = live.stats
    for n in live.notices[shown:]:
        print(f"livemer: note: {n}", file=sys.stderr)
    for src in (live.camera, live.mic):
        if src is not None and src.error is not None:
            st.errors.append(str(src.error))
    for e in st.errors:
        print(f"livemer: error: {e}", file=sys.stderr)
    summary = (
        f"livemer: {st.results} results at {st.infer_hz():.1f}/s, {st.frames_analysed} frames analysed "
        f"({st.faces_found} with a face), {st.words} words"
    )
    if st.rendered:
        summary += f", {st.rendered} frames rendered at {st.render_fps():.1f} fps"
    if args.record and live.recorder is not None and live.recorder.frames:
        summary += f"; video: {args.record}"
    if args.jsonl:
        summary += f"; results: {args.jsonl}"
    if sig.received is not None and st.stop_requested is not None and st.joined is not None:
        summary += f"; stopped in {st.joined - st.stop_requested:.2f} s"
    print(summary, file=sys.stderr)
    code = 1 if st.errors else 0
    if alive:
        # a worker is inside a native call (e.g. a Whisper decode) that cannot be interrupted;
        # everything is written and closed, so leave without waiting for it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


class _KeyHandler:
    """q/Esc quit, m cycles the modality subset, e types an emotion word to add, t one to teach, c calibrates."""

    def __init__(self, view, engine, controls=None) -> None:
        self.view = view  # the LiveView: prompt, show_message(), stop()
        self.engine = engine
        self.controls = controls

    def __call__(self, key: int) -> None:
        from .engine import modality_letters
        from .errors import LivemerError

        live = self.view
        if live.prompt is not None:  # typing an emotion word
            if key in (27,):
                live.prompt = None
            elif key in (13, 10):
                word = live.prompt.strip()
                live.prompt = None
                if word and live.prompt_label == "teach emotion" and self.controls is not None:
                    self.controls.teach(word)
                elif word:
                    try:
                        name = self.engine.add_emotion(word)
                        live.show_message(f"added '+{name}' (saved for later runs)")
                    except LivemerError as exc:
                        live.show_message(str(exc))
            elif key in (8, 127, 0xFF08):
                live.prompt = live.prompt[:-1]
            elif 32 <= key < 127 and len(live.prompt) < 30:
                ch = chr(key)
                if ch.isalpha() or ch in "-'":
                    live.prompt += ch.lower()
            return
        k = chr(key).lower() if 0 < key < 256 else ""
        if key == 27 or k == "q":
            live.stop()
        elif k == "m":
            mods = self.engine.cycle_modalities()
            live.show_message(f"modalities: {modality_letters(mods)}", 2.0)
        elif k == "e":
            live.prompt_label = "add emotion"
            live.prompt = ""
        elif k == "t" and self.controls is not None:
            live.prompt_label = "teach emotion"
            live.prompt = ""
        elif k == "c" and self.controls is not None:
            self.controls.calibrate(10.0)
