"""``livemer train``: the paper's training protocols on CMU-SDK data.

    livemer train --data {mosei-aligned,mult-pkl,csd} DIR [--preset mosei|iemocap]
                  [--zsl EMOTION] [--fsl EMOTION --fsl-mode {ft,jt,gem} [--init CKPT]]
                  --out CKPT [--glove glove.840B.300d.txt] [--json FILE]

Per-epoch bars and a loss/metrics line per epoch go to stderr; the paper-style
test table goes to stdout. An interrupted run resumes from its last finished
epoch when the same command is run again.
"""

from __future__ import annotations

import argparse

DATA_KINDS = ("mosei-aligned", "mult-pkl", "csd")


def add_data_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    """--data KIND DIR and the options that shape loading (shared with ``evaluate``)."""
    p.add_argument(
        "--data",
        nargs=2,
        metavar=("KIND", "DIR"),
        required=required,
        help=f"dataset kind ({', '.join(DATA_KINDS)}) and its folder (or pickle file)",
    )
    p.add_argument(
        "--glove",
        metavar="PATH",
        help="GloVe text file for the emotion word vectors; must match the data's word vectors "
        "(the paper: glove.840B.300d.txt). Default: the bundled GloVe 6B 50-d",
    )
    p.add_argument(
        "--emotion-words",
        metavar="W1,W2,...",
        help="word for each label column, in the data's order (e.g. angry,disgusted,fearful,happy,sad,surprised)",
    )
    p.add_argument("--seq-len", type=int, default=20, help="steps per sample for --data csd (default 20)")
    p.add_argument(
        "--folds", metavar="JSON", help='for --data csd: {"train": [video ids], "valid": [...], "test": [...]}'
    )
    p.add_argument("--json", metavar="FILE", help="also write the figures to this JSON file")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train on CMU-MOSEI / IEMOCAP data with the paper's protocols (supervised, zero-shot, few-shot)",
        description="Train the emotion-embedding model on CMU Multimodal SDK data and write a checkpoint the live app runs.",
    )
    add_data_arguments(p, required=False)
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint to write")
    r = p.add_argument_group("the embedded default checkpoint (instead of --data; see recipes/recipe_default.py)")
    r.add_argument(
        "--recipe",
        choices=("default",),
        help="build livemer's default checkpoint from ../shared (RAVDESS, face photos, speech corpora, GoEmotions, MELD) with its model card",
    )
    r.add_argument("--shared", metavar="DIR", help="the shared data folder (default: ../shared)")
    r.add_argument("--card", metavar="FILE", help="write the model card here (e.g. assets/MODEL_CARD.md)")
    r.add_argument("--quick", action="store_true", help="a few-minute version of the recipe")
    r.add_argument(
        "--no-report", action="store_true", help="only the checkpoint: skip the baseline, protocol and seed runs"
    )
    p.add_argument("--preset", choices=("mosei", "iemocap"), help="Table 3 hyper-parameters")
    p.add_argument(
        "--zsl", metavar="EMOTION", help="zero-shot: train without this emotion, then score it from its word vector"
    )
    p.add_argument(
        "--fsl", metavar="EMOTION", help="few-shot: adapt a model trained without EMOTION using 1%% of its positives"
    )
    p.add_argument(
        "--fsl-mode",
        choices=("ft", "jt", "gem"),
        default="gem",
        help="ft: fine-tune on the new data; jt: joint training with the source data; gem: gradient episodic memory",
    )
    p.add_argument(
        "--init",
        metavar="CKPT",
        help="few-shot: the source checkpoint trained without the emotion (default: train it first, as OUT.source.ckpt)",
    )
    g = p.add_argument_group("hyper-parameters (override the preset)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--clip", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--early-stop", type=int, help="epochs without improvement before stopping")
    g.add_argument(
        "--select-metric", choices=("w_acc", "auc", "f1", "acc"), help="validation average used for early stopping"
    )
    g.add_argument("--modality-dropout", type=float, help="probability of masking each modality per sample in training")
    g.add_argument(
        "--hidden", type=int, nargs=2, metavar=("ACOUSTIC", "VISUAL"), help="LSTM hidden sizes (text = word-vector dim)"
    )
    g.add_argument("--layers", type=int, help="LSTM layers")
    g.add_argument("--dropout", type=float)
    g.add_argument("--gem-memory", type=int, help="source samples in GEM's memory")
    g.add_argument("--fsl-fraction", type=float, help="fraction of the new emotion's positives kept (default 0.01)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--no-resume", action="store_true", help="ignore and overwrite any resume state of OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from livemer.errors import LivemerError

    from . import _sdkcli as c

    if getattr(args, "recipe", None):
        from recipes.recipe_default import run_from_cli

        try:
            return run_from_cli(args)
        except FileNotFoundError as exc:
            raise LivemerError(str(exc)) from None
    if not args.data:
        raise LivemerError("--data KIND DIR is required (or --recipe default)")
    hp = c.hparams_from_args(args)
    c.set_threads(args.threads)
    kind, path = c.data_kind_path(args)
    splits, notes = c.load_data(args, kind, path, ("train", "valid", "test"))
    provider, words, vectors = c.emotion_vectors(args, splits["train"], path)
    spaces = c.feature_spaces(provider)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    for s in ("train", "valid", "test"):
        print(splits[s].summary(), file=sys.stderr)
    if args.zsl and args.fsl:
        raise LivemerError("use either --zsl or --fsl, not both")
    for flag, em in (("--zsl", args.zsl), ("--fsl", args.fsl)):
        if em and em not in words:
            raise LivemerError(f"{flag} {em}: not an emotion of this data ({', '.join(words)})")
    prov = c.provenance(args, kind, path)
    common = dict(
        feature_spaces=spaces,
        embedding_space=provider.name,
        resume=not args.no_resume,
        progress=not args.no_progress,
        device=args.device,
    )
    from model.training import TrainingError, train_fsl, train_supervised, train_zsl

    try:
        if args.zsl:
            ck, hist = train_zsl(
                splits["train"], splits["valid"], args.zsl, words, vectors, hp, out=args.out, provenance=prov, **common
            )
        elif args.fsl:
            source = c.fsl_source(args, splits, words, vectors, hp, prov, common)
            ck, hist = train_fsl(
                source,
                splits["train"],
                splits["valid"],
                args.fsl,
                args.fsl_mode,
                hp,
                emotion_words=words,
                emotion_vectors=vectors,
                out=args.out,
                provenance=prov,
                **common,
            )
        else:
            ck, hist = train_supervised(
                splits["train"], splits["valid"], words, vectors, hparams=hp, out=args.out, provenance=prov, **common
            )
    except TrainingError as exc:
        raise LivemerError(str(exc)) from None
    except KeyboardInterrupt:
        print(
            f"interrupted: run the same command again to resume from the last finished epoch ({args.out}.resume.pt)",
            file=sys.stderr,
        )
        raise
    print(
        f"saved {args.out} (best epoch {hist.best_epoch} of {len(hist.epochs)}"
        f"{', resumed' if hist.resumed_from else ''})",
        file=sys.stderr,
    )
    report = c.test_report(ck, splits["test"], ("tav",), words, provider, hp.threshold, progress=not args.no_progress)
    report["history"] = hist.to_dict()
    report["checkpoint"] = str(args.out)
    c.record_test_metrics(ck, report)
    if args.fsl:
        # the source model on the same test data, so that forgetting (or not) is visible
        from model.evaluation import evaluate_checkpoint, transfer_summary

        before = evaluate_checkpoint(source, splits["test"], "tav", words, hp.threshold)
        report["source"] = transfer_summary(before, [args.fsl], "before few-shot (source model, zero-shot)")
        print(report["source"].format())
        print()
    c.print_report(report)
    if args.json:
        c.write_json(args.json, report)
    return 0
