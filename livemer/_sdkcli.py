"""Shared plumbing of ``livemer train`` and ``livemer evaluate`` (imported inside ``run``)."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from livemer.errors import LivemerError


def set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


def data_kind_path(args) -> tuple[str, str]:
    from model.sdk import DATA_KINDS

    kind, path = args.data
    if kind not in DATA_KINDS:
        raise LivemerError(f"--data {kind}: unknown kind (use one of {', '.join(DATA_KINDS)})")
    if not Path(path).exists():
        raise LivemerError(f"--data {kind} {path}: not found")
    return kind, path


def load_data(args, kind: str, path: str, splits) -> tuple[dict, list[str]]:
    from model.sdk import load_splits

    notes: list[str] = []
    data = load_splits(
        kind, path, splits, seq_len=args.seq_len, folds=args.folds, progress=not args.no_progress, notes=notes
    )
    if args.emotion_words:
        words = [w.strip() for w in args.emotion_words.split(",") if w.strip()]
        first = data[splits[0]]
        if len(words) != len(first.emotions):
            raise LivemerError(
                f"--emotion-words gives {len(words)} words for {len(first.emotions)} label columns ({', '.join(first.emotions)})"
            )
        data = {s: d.rename_emotions(words) for s, d in data.items()}
    for s, d in data.items():
        if len(d) == 0:
            raise LivemerError(f"{path}: the {s} split is empty")
    return data, notes


def get_provider(args):
    from feature_adapters.embeddings import get_provider as gp

    return gp(args.glove) if args.glove else gp()


def emotion_vectors(args, ds, path: str):
    """(provider, words, vectors) for the dataset's emotions; the text dim must match the provider."""
    provider = get_provider(args)
    d_t = ds.dims["text"]
    if d_t != provider.dim:
        raise LivemerError(
            f"the text features in {path} are {d_t}-d but the word vectors {provider.name} are {provider.dim}-d; "
            f"pass --glove with the {d_t}-d GloVe file the data was built with (the paper: glove.840B.300d.txt)"
        )
    words = list(ds.emotions)
    return provider, words, provider.vectors(words)


def feature_spaces(provider) -> dict:
    from model.sdk import sdk_feature_spaces

    return sdk_feature_spaces(provider.space())


def hparams_from_args(args):
    from model.presets import get_preset

    hp = get_preset(args.preset)
    over = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "clip": args.clip,
        "seed": args.seed,
        "early_stop": args.early_stop,
        "select_metric": args.select_metric,
        "modality_dropout": args.modality_dropout,
        "num_layers": args.layers,
        "dropout": args.dropout,
        "gem_memory": args.gem_memory,
        "fsl_fraction": args.fsl_fraction,
    }
    if args.hidden:
        over["hidden_acoustic"], over["hidden_visual"] = args.hidden
    try:
        return hp.with_overrides(**over)
    except ValueError as exc:
        raise LivemerError(str(exc)) from None


def command_line(args, name: str) -> str:
    """The command as typed when run as ``livemer``; otherwise rebuilt from the parsed options."""
    if sys.argv and Path(sys.argv[0]).name == "livemer":
        return "livemer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    parts = ["livemer", name]
    for k, v in vars(args).items():
        if k in ("func", "command", "debug") or v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        if v is True:
            parts.append(flag)
        elif isinstance(v, (list, tuple)):
            parts += [flag, *map(str, v)]
        else:
            parts += [flag, str(v)]
    return " ".join(shlex.quote(p) for p in parts)


def provenance(args, kind: str, path: str) -> dict[str, Any]:
    return {
        "data": f"{kind}:{os.path.abspath(path)}",
        "command": command_line(args, "train"),
        "preset": args.preset,
        "label_words": list(args.emotion_words.split(",")) if getattr(args, "emotion_words", None) else None,
    }


def fsl_source(args, splits, words, vectors, hp, prov, common):
    """The model trained without the few-shot emotion: --init, or trained now as OUT.source.ckpt."""
    from model.checkpoint import Checkpoint
    from model.training import train_zsl

    if args.init:
        return Checkpoint.load(args.init)
    src = Path(str(args.out) + ".source.ckpt")
    if src.exists() and not (Path(str(src) + ".resume.pt")).exists():
        print(f"using the source model {src} (trained without {args.fsl})", file=sys.stderr)
        return Checkpoint.load(src)
    print(f"training the source model without '{args.fsl}' first ({src})", file=sys.stderr)
    ck, _ = train_zsl(
        splits["train"], splits["valid"], args.fsl, words, vectors, hp, out=src, provenance=dict(prov), **common
    )
    ck.path = src
    return ck


def test_report(ck, ds, subsets, emotions, provider, threshold: float, progress: bool = False) -> dict[str, Any]:
    """Evaluate ``ck`` on ``ds`` for each modality subset; the transfer layout when the checkpoint has one."""
    from model.evaluation import evaluate_subsets, table_setting, transfer_summary

    prov_ok = provider if (provider is not None and provider.name == ck.embedding_space) else None
    try:
        tables = evaluate_subsets(ck, ds, subsets, emotions, threshold, provider=prov_ok, progress=progress)
    except KeyError as exc:
        raise LivemerError(
            f"{exc.args[0] if exc.args else exc}; or pass --glove with the checkpoint's word vectors "
            f"({ck.embedding_space})"
        ) from None
    setting, new = table_setting(ck.provenance)
    new = [e for e in new if e in (emotions or ds.emotions)]
    report: dict[str, Any] = {"split": ds.name, "samples": len(ds), "setting": setting, "tables": tables}
    if new:
        report["transfer"] = {code: transfer_summary(t, new, setting) for code, t in tables.items()}
    return report


def record_test_metrics(ck, report) -> None:
    """Add the test averages to the checkpoint's provenance and re-save it."""
    t = report["tables"].get("tav")
    if t is None or ck.path is None:
        return
    avg = t.average()
    metrics = dict(ck.provenance.get("metrics") or {})
    for k in ("w_acc", "auc", "f1", "acc"):
        v = getattr(avg, k)
        if not math.isnan(v):
            metrics[f"test_{k}"] = float(v)
    ck.provenance["metrics"] = metrics
    ck.save(ck.path)


def print_report(report) -> None:
    from model.evaluation import format_ablation, format_accuracy

    tables = report["tables"]
    for code, t in tables.items():
        title = f"{report['split']} ({report['samples']} samples), modalities {code.upper()}"
        print(t.format(title))
        print(format_accuracy(t))
        print()
        if "transfer" in report:
            print(report["transfer"][code].format())
            print()
    if len(tables) > 1:
        print(format_ablation(tables, "w_acc"))
        print()
        print(format_ablation(tables, "auc"))


def report_json(report) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in report.items() if k not in ("tables", "transfer", "source")}
    if "source" in report:
        out["source"] = report["source"].to_dict()
    out["results"] = {code: t.to_dict() for code, t in report["tables"].items()}
    if "transfer" in report:
        out["transfer"] = {code: s.to_dict() for code, s in report["transfer"].items()}
    return out


def write_json(path: str, report) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    payload = _finite(report_json(report))
    payload["written"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    try:
        tmp.write_text(json.dumps(payload, indent=1, default=_json_default, allow_nan=False))
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"wrote {p}", file=sys.stderr)


def _finite(o: Any) -> Any:
    """NaN / inf floats -> None, recursively (strict JSON)."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)
