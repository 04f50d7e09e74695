"""``livemer evaluate CKPT --data KIND DIR``: the paper's tables for a checkpoint.

``--modalities`` takes one subset (``tav``, ``ta``, ``a``...), a comma list, or
``ablation`` for all seven subsets of Table 6; modalities are switched off
through the masks, with no retraining. Zero-shot and few-shot checkpoints also
get the Table 4 layout (new emotion beside the average of the others).
"""

from __future__ import annotations


def add_parser(sub) -> None:
    from .cmd_train import add_data_arguments

    p = sub.add_parser(
        "evaluate",
        help="W-Acc, AUC and F1 of a checkpoint on CMU-MOSEI / IEMOCAP data, for any subset of modalities",
        description="Evaluate a checkpoint on CMU Multimodal SDK data in the paper's table layouts.",
    )
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file")
    add_data_arguments(p)
    p.add_argument(
        "--split", choices=("train", "valid", "test"), default="test", help="split to evaluate (default test)"
    )
    p.add_argument(
        "--modalities",
        default="tav",
        metavar="SUBSETS",
        help="'tav' (default), a subset such as 'ta' or 'a', a comma list 'tav,ta,a', or 'ablation' (all 7)",
    )
    p.add_argument(
        "--emotions", metavar="E1,E2,...", help="evaluate only these label columns (default: all of the data's)"
    )
    p.add_argument("--threshold", type=float, default=0.5, help="decision threshold for W-Acc and F1 (default 0.5)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from livemer.errors import LivemerError

    from . import _sdkcli as c

    c.set_threads(args.threads)
    from model.checkpoint import Checkpoint
    from model.evaluation import ABLATION_SUBSETS, modality_code
    from model.inference import parse_modalities

    ck = Checkpoint.load(args.checkpoint)
    spec = args.modalities.strip().lower()
    try:
        subsets = (
            list(ABLATION_SUBSETS)
            if spec == "ablation"
            else [modality_code(parse_modalities(s)) for s in spec.split(",") if s.strip()]
        )
    except ValueError as exc:
        raise LivemerError(f"--modalities {args.modalities}: {exc}") from None
    if not subsets or any(not s for s in subsets):
        raise LivemerError(f"--modalities {args.modalities}: give at least one of t, a, v")
    kind, path = c.data_kind_path(args)
    label_words = (ck.provenance or {}).get("label_words")
    if label_words and not args.emotion_words:
        args.emotion_words = ",".join(label_words)
    data, notes = c.load_data(args, kind, path, (args.split,))
    ds = data[args.split]
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    if (
        ds.dims["text"] != ck.config.input_dims["text"]
        or ds.dims["acoustic"] != ck.config.input_dims["acoustic"]
        or ds.dims["visual"] != ck.config.input_dims["visual"]
    ):
        raise LivemerError(f"{path}: features are {ds.dims} but the checkpoint takes {ck.config.input_dims}")
    emotions = list(ds.emotions)
    if args.emotions:
        emotions = [e.strip() for e in args.emotions.split(",") if e.strip()]
        unknown = [e for e in emotions if e not in ds.emotions]
        if unknown:
            raise LivemerError(f"--emotions: {', '.join(unknown)} not labelled in {path} ({', '.join(ds.emotions)})")
    provider = c.get_provider(args) if args.glove else None
    report = c.test_report(ck, ds, subsets, emotions, provider, args.threshold, progress=not args.no_progress)
    report["checkpoint"] = str(args.checkpoint)
    c.print_report(report)
    if args.json:
        c.write_json(args.json, report)
    return 0
