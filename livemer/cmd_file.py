"""``livemer file INPUT... [--out DIR]``: the live pipeline over files, as fast as they decode.

Models load once for all inputs. Each input gets ``<stem>.csv``, ``<stem>.json``,
``<stem>.annotated.mp4`` (unless ``--no-video``) and ``<stem>.timeline.png``;
``index.csv`` lists every input with its summary row. A corrupt or unreadable
input gets a one-line error, the others still run, and the exit code is 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_OUT = "livemer-out"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options shared by ``livemer file`` and ``livemer demo``."""
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--emotions", metavar="LIST",
                   help="comma-separated emotions to score (default: the model's set plus your added ones)")
    p.add_argument("--modalities", default="tav", metavar="tav",
                   help="modalities to fuse: letters t (text), a (acoustic), v (visual); default tav")
    p.add_argument("--no-video", action="store_true", help="skip the annotated video (faster)")
    p.add_argument("--checkpoint", metavar="CKPT", help="checkpoint file (default: the embedded one)")
    p.add_argument("--glove", metavar="PATH", help="GloVe text file when the checkpoint does not use GloVe 6B 50-d")
    p.add_argument("--face-backend", default="auto", choices=("auto", "mediapipe", "pyfeat"),
                   help="face analysis backend (default: auto)")
    p.add_argument("--asr-model", metavar="NAME|DIR",
                   help="Whisper model: a local CTranslate2 directory or a cached size name (default: bundled tiny.en)")
    p.add_argument("--hop", type=float, default=0.2, metavar="SECONDS",
                   help="one result every this many seconds of media (default: 0.2, as live's 5 Hz)")
    p.add_argument("--face-fps", type=float, default=5.0, metavar="FPS",
                   help="video frames analysed for the face per second (default: 5, one per 0.2 s result; more is slower)")
    p.add_argument("--smoothing", type=float, default=1.0, metavar="SECONDS",
                   help="smoothing time constant of the bars in the annotated video (default: 1.0; the CSV and "
                        "JSON hold the raw per-window probabilities)")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "file",
        help="analyse video/audio files (or folders of them) as fast as possible",
        description="Run the live pipeline over video files (mp4, mkv, mpg, ...) and audio files (wav, flac, mp3, "
                    "...), decoding as fast as possible. Writes <stem>.csv, <stem>.json, <stem>.annotated.mp4 and "
                    "<stem>.timeline.png per input, and index.csv with one row per input. A folder is expanded to "
                    "the media files inside it. Exit code 2 when any input could not be read.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video or audio files, or folders of them")
    add_arguments(p)
    p.set_defaults(func=run)


@dataclass(frozen=True)
class InputSummary:
    """What the closing report says about one input (not the whole FileResult: over hundreds of inputs,
    keeping every result would hold every face track and probability table to the end)."""

    duration: float
    modalities: str  # letters present, such as "tav"
    top: tuple[str, float] | None

    @classmethod
    def of(cls, result) -> "InputSummary":
        return cls(float(result.duration), "".join(m[0] for m in result.modalities_present), result.top_emotion())


@dataclass
class FileOutcome:
    input: Path
    ok: bool
    message: str = ""
    summary: InputSummary | None = None
    outputs: Any = None  # outputs.OutputPaths
    written: list[Path] = field(default_factory=list)


@dataclass
class BatchReport:
    out_dir: Path
    outcomes: list[FileOutcome]
    index: Path | None
    seconds: float

    @property
    def failures(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)


def _check_args(args: argparse.Namespace) -> None:
    from .errors import LivemerError

    if not (args.hop > 0):
        raise LivemerError(f"--hop must be > 0 seconds, got {args.hop}")
    if not (args.face_fps > 0):
        raise LivemerError(f"--face-fps must be > 0, got {args.face_fps}")
    if args.smoothing < 0:
        raise LivemerError(f"--smoothing must be >= 0 seconds, got {args.smoothing}")


def _warn(msg: str) -> None:
    print(f"livemer: {msg}", file=sys.stderr, flush=True)


def engine_from_args(args: argparse.Namespace):
    """The :class:`livemer.engine.Engine` for these options (models load here, once)."""
    from .engine import Engine, EngineConfig

    engine = Engine(EngineConfig(
        checkpoint=args.checkpoint, emotions=args.emotions, modalities=args.modalities,
        face_backend=args.face_backend, asr_model=args.asr_model, glove=args.glove,
        smoothing_tau=float(args.smoothing),
    ))
    for note in engine.notes:
        _warn(f"note: {note}")
    return engine


def process_inputs(args: argparse.Namespace, inputs: list[str | Path], engine=None) -> BatchReport:
    """Analyse ``inputs`` with the options in ``args`` and write every output; never raises for one bad input."""
    from tqdm import tqdm

    from . import outputs as out
    from .errors import LivemerError, first_line
    from .media import MediaError, expand_inputs, probe
    from .offline import FileDriver, OfflineSettings

    t_start = time.perf_counter()
    _check_args(args)
    out_dir = out.check_writable(args.out)
    paths = expand_inputs(list(inputs))
    settings = OfflineSettings(hop=float(args.hop), face_fps=float(args.face_fps))
    if engine is None:
        engine = engine_from_args(args)
    driver = FileDriver(engine, settings)
    driver.session.preload()  # the stages load in the background while the inputs are probed
    stems = out.unique_stems(paths)

    # probe everything first: bad files are reported at once and the progress bar knows the total
    infos: dict[int, Any] = {}
    outcomes: list[FileOutcome | None] = [None] * len(paths)
    for i, p in enumerate(paths):
        try:
            infos[i] = probe(p)
        except MediaError as exc:
            outcomes[i] = FileOutcome(p, False, str(exc))
            _warn(f"error: {exc}")
    passes = 1 if args.no_video else 2
    total = sum(info.duration for info in infos.values()) * passes
    rows: list[dict] = []
    index_path = out_dir / out.INDEX_NAME
    bar = tqdm(total=round(total, 1), unit="s", unit_scale=False, desc="livemer file", disable=None,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s media [{elapsed}<{remaining}]", file=sys.stderr)

    ticked = [0.0]

    def tick(dt: float) -> None:
        ticked[0] += dt
        bar.update(dt)

    try:
        for i, p in enumerate(paths):
            if outcomes[i] is not None:
                rows.append(out.index_row(p, error=outcomes[i].message))
                out.write_index(rows, engine.emotions, index_path)
                continue
            info = infos[i]
            bar.set_postfix_str(p.name[-30:], refresh=False)
            paths_i = out.output_paths(out_dir, stems[i])
            t0 = time.perf_counter()
            ticked[0] = 0.0
            try:
                result = driver.analyse(p, progress=tick, info=info)
                for note in result.notices:
                    bar.write(f"livemer: note: {p.name}: {note}", file=sys.stderr)
                written = [out.write_csv(result, paths_i.csv), out.write_timeline(result, paths_i.timeline)]
                if not args.no_video:
                    t1 = time.perf_counter()
                    written.append(out.write_annotated_video(result, paths_i.video, progress=tick))
                    result.timings["annotated_video"] = time.perf_counter() - t1
                result.timings["wall"] = time.perf_counter() - t0
                doc = out.result_summary(result, engine=engine, outputs=paths_i,
                                         extra_settings={"annotated_video": not args.no_video,
                                                         "smoothing_tau_video": engine.config.smoothing_tau})
                if args.no_video:
                    doc["outputs"].pop("video", None)
                written.insert(1, out.write_json(doc, paths_i.json))
                outcomes[i] = FileOutcome(p, True, "; ".join(result.notices), InputSummary.of(result), paths_i, written)
                rows.append(out.index_row(p, result, outputs=paths_i))
            except LivemerError as exc:
                msg = first_line(exc)
                if str(p) not in msg:
                    msg = f"{p}: {msg}"
                bar.write(f"livemer: error: {msg}", file=sys.stderr)
                outcomes[i] = FileOutcome(p, False, msg)
                rows.append(out.index_row(p, error=msg))
                bar.update(max(0.0, info.duration * passes - ticked[0]))  # skip what this input had left
            out.write_index(rows, engine.emotions, index_path)
    finally:
        bar.close()
        driver.close()
    if not rows:
        out.write_index(rows, engine.emotions, index_path)
    return BatchReport(out_dir, [o for o in outcomes if o is not None], index_path, time.perf_counter() - t_start)


def print_report(report: BatchReport, stream=None) -> None:
    """Where the outputs went, one line per input."""
    stream = stream or sys.stdout
    ok = [o for o in report.outcomes if o.ok]
    print(f"livemer: analysed {len(ok)} of {len(report.outcomes)} input(s) in {report.seconds:.1f} s; "
          f"outputs in {report.out_dir}/", file=stream)
    for o in report.outcomes:
        if not o.ok:
            print(f"  {o.input}: FAILED ({o.message})", file=stream)
            continue
        r = o.summary
        top = r.top
        mods = r.modalities or "none"
        head = f"  {o.input} ({r.duration:.1f} s, modalities {mods}"
        head += f", top: {top[0]} {top[1]:.2f})" if top else ")"
        print(head, file=stream)
        for f in o.written:
            print(f"    {f}", file=stream)
    if report.index is not None:
        print(f"  index: {report.index}", file=stream)


def run(args: argparse.Namespace) -> int:
    report = process_inputs(args, args.inputs)
    print_report(report)
    return 2 if report.failures else 0
