"""``livemer file INPUT... [--out DIR]``: the live pipeline over files, as fast as they decode.

The work runs in :mod:`livemer.batch`: models load once per worker process
(``--workers N``, default the number of cores) or per Dask worker
(``--cluster``). Each input gets ``<stem>.csv``, ``<stem>.json``,
``<stem>.annotated.mp4`` (unless ``--no-video``) and ``<stem>.timeline.png``
(unless ``--no-plots``); ``index.csv`` lists every input with its summary row
and ``windows.parquet``/``windows.csv`` hold every window of every input. A
corrupt or unreadable input gets a one-line error, the others still run, and
the exit code is 2. ``--resume`` skips inputs already complete.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_options import add_model_options, add_scoring_options

DEFAULT_OUT = "livemer-out"
#: Batches up to this many inputs list every output file in the report; longer ones list failures only.
MAX_LISTED = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options shared by ``livemer file`` and ``livemer demo``."""
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default: ./{DEFAULT_OUT})")
    add_scoring_options(p)
    p.add_argument("--no-video", action="store_true", help="skip the annotated video (faster)")
    p.add_argument(
        "--no-plots",
        action="store_true",
        help="skip the timeline PNG (a quarter of a CPU-second per input: worth it for many short clips)",
    )
    add_model_options(p)
    p.add_argument(
        "--hop",
        type=float,
        default=0.2,
        metavar="SECONDS",
        help="one result every this many seconds of media (default: 0.2, as live's 5 Hz)",
    )
    p.add_argument(
        "--face-fps",
        type=float,
        default=5.0,
        metavar="FPS",
        help="video frames analysed for the face per second (default: 5, one per 0.2 s result; more is slower)",
    )
    p.add_argument(
        "--smoothing",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="smoothing time constant of the bars in the annotated video (default: 1.0; the CSV and "
        "JSON hold the raw per-window probabilities)",
    )


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def add_parser(sub) -> None:
    p = sub.add_parser(
        "file",
        help="analyse video/audio files (or folders of them) as fast as possible",
        description="Run the live pipeline over video files (mp4, mkv, mpg, ...), audio files (wav, flac, mp3, "
        "...) and still images (jpg, png, tiff, webp, bmp: visual-only results per face), decoding as "
        "fast as possible. Writes <stem>.csv, <stem>.json, <stem>.annotated.mp4 and "
        "<stem>.timeline.png per input, and index.csv with one row per input. A folder is expanded to "
        "the media files inside it. Exit code 2 when any input could not be read.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video or audio files, or folders of them")
    add_arguments(p)
    p.add_argument(
        "--max-faces",
        type=_positive_int,
        default=None,
        metavar="N",
        help="faces per still image or video frame, 1 to 5, each with its own id, scores and rows "
        "(face_id); default 5 for images, 1 for video (a video's faces are tracked across frames; text "
        "and voice belong to the scene and repeat on every face's row)",
    )
    g = p.add_argument_group("batches")
    g.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="worker processes, each with its models loaded once (default: the number of cores; "
        "one input runs in this process)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="skip the inputs whose outputs are already complete in --out (index.csv says ok)",
    )
    g.add_argument(
        "--cluster",
        metavar="tcp://HOST:PORT",
        help="send the work to a Dask distributed scheduler; --out must be a folder every worker "
        "can write (a shared file system)",
    )
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from .batch import BatchOptions

    BatchOptions.from_args(args).check()


def engine_from_args(args: argparse.Namespace):
    """The :class:`livemer.engine.Engine` for these options (models load here, once)."""
    from .batch import BatchOptions, warm_engine

    engine = warm_engine(BatchOptions.from_args(args))
    for note in engine.notes:
        print(f"livemer: note: {note}", file=sys.stderr, flush=True)
    return engine


def process_inputs(args: argparse.Namespace, inputs: list[str | Path], engine=None):
    """Analyse ``inputs`` with the options in ``args`` and write every output; never raises for one bad input.

    Returns a :class:`livemer.batch.BatchResult`.
    """
    from .batch import BatchOptions, run_batch

    # options without --workers (livemer demo, benchmarks): this process
    return run_batch(
        inputs,
        BatchOptions.from_args(args),
        workers=getattr(args, "workers", 1),
        resume=bool(getattr(args, "resume", False)),
        cluster=getattr(args, "cluster", None),
        engine=engine,
    )


def print_report(report, stream=None) -> None:
    """Where the outputs went, one line per input (a long batch: the failures and a count only)."""
    stream = stream or sys.stdout
    ok = [o for o in report.outcomes if o.ok]
    resumed = sum(1 for o in ok if o.resumed)
    rate = ""
    if report.media_seconds > 0 and report.seconds > 0:
        rate = f", {report.media_seconds / report.seconds:.1f}x real time"
    print(
        f"livemer: analysed {len(ok)} of {len(report.outcomes)} input(s) in {report.seconds:.1f} s"
        f"{rate}{f' ({resumed} already complete)' if resumed else ''}; outputs in {report.out_dir}/",
        file=stream,
    )
    detailed = len(report.outcomes) <= MAX_LISTED
    for o in report.outcomes:
        if not o.ok:
            print(f"  {o.input}: FAILED ({o.message})", file=stream)
            continue
        if not detailed:
            continue
        head = f"  {o.input} ({o.duration:.1f} s, modalities {o.modalities or 'none'}"
        head += f", top: {o.top[0]} {o.top[1]:.2f})" if o.top else ")"
        if o.resumed:
            head += " already complete"
        print(head, file=stream)
        for f in o.written:
            print(f"    {f}", file=stream)
    print(f"  index: {report.index}", file=stream)
    if report.table is not None:
        print(f"  all windows: {report.table} (and {report.table_csv.name})", file=stream)


def run(args: argparse.Namespace) -> int:
    report = process_inputs(args, args.inputs)
    print_report(report)
    return 2 if report.failures else 0
