"""``livemer emotions`` (list / remove) and ``livemer add-emotion WORD [--as NAME]``."""

from __future__ import annotations

import argparse
import os


def add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", metavar="CKPT", help="checkpoint file (default: the embedded one)")
    p.add_argument(
        "--glove",
        metavar="PATH",
        help="GloVe text file for word vectors when the checkpoint does not use GloVe 6B 50-d",
    )


def add_parser(sub) -> None:
    p = sub.add_parser(
        "emotions",
        help="list the emotions the model knows, or remove a user-added one",
        description="List trained and user-added emotions. `livemer emotions remove WORD` removes one.",
    )
    p.add_argument("action", nargs="?", choices=["list", "remove"], default="list")
    p.add_argument("word", nargs="?", help="with remove: the user-added emotion to remove")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="draw the emotion space (distance matrices and 2-D maps of the "
        "text, acoustic and visual embeddings) into PNG",
    )
    add_checkpoint_args(p)
    p.set_defaults(func=run_emotions)

    a = sub.add_parser(
        "add-emotion",
        help="add an emotion by its word (zero-shot, persists for this user)",
        description="Add an unseen emotion by its word. It is scored in every modality through the "
        "learned mappings f_t->a and f_t->v, in every later `run` and `file`.",
    )
    a.add_argument("word", help="a word with a vector in the checkpoint's embedding space, e.g. bored")
    a.add_argument("--as", dest="name", metavar="NAME", help="display name (default: the word)")
    a.add_argument(
        "--examples",
        nargs="+",
        metavar="PATH",
        help="clips or folders (video or audio) showing the emotion: adapts it few-shot "
        "(the trained emotions keep their scores)",
    )
    a.add_argument(
        "--span",
        action="append",
        metavar="START-END",
        help="the seconds of an example that show the emotion; once for all, or once per PATH in order",
    )
    a.add_argument(
        "--negatives",
        nargs="+",
        metavar="PATH",
        help="clips that do NOT show the emotion (needed only when the checkpoint carries no replay set)",
    )
    add_checkpoint_args(a)
    a.set_defaults(func=run_add)


def provider_for(checkpoint, glove: str | None = None):
    """The embedding provider matching the checkpoint's space."""
    from feature_adapters.embeddings import get_provider

    from .errors import LivemerError

    prov = get_provider(glove)
    if prov.name != checkpoint.embedding_space:
        raise LivemerError(
            f"the checkpoint uses {checkpoint.embedding_space} word vectors but {prov.name} were given; "
            f"pass --glove PATH to the matching GloVe file"
        )
    return prov


def _user_registry():
    from .registry import Registry

    reg = Registry()
    for w in reg.warnings:
        print(f"livemer: warning: {w}")
    return reg


def adaptation_note(entry, fingerprint: str | None) -> str:
    """How a user emotion is scored: zero-shot, or adapted from N examples (and whether it fits)."""
    a = entry.adaptation
    if not a:
        return "zero-shot"
    what = f"adapted from {a.get('examples', '?')} example clip(s), {a.get('windows', '?')} windows"
    if fingerprint is not None and a.get("checkpoint") != fingerprint:
        what += "; fitted to another checkpoint, so zero-shot here"
    return what


def run_emotions(args) -> int:
    import json

    from model.adapt import checkpoint_fingerprint
    from model.checkpoint import load_checkpoint

    from .errors import LivemerError

    reg = _user_registry()
    if args.action == "remove":
        if not args.word:
            raise LivemerError("usage: livemer emotions remove WORD")
        entry = reg.get(args.word)
        if not reg.remove(args.word):
            known = ", ".join(e.name for e in reg.list()) or "none"
            raise LivemerError(f"'{args.word}' is not a user-added emotion (user-added: {known})")
        from .teach import forget

        forget(reg, args.word)
        extra = " and its adaptation" if entry is not None and entry.adaptation else ""
        print(f"removed '{args.word}'{extra}")
        return 0
    ck = load_checkpoint(args.checkpoint)
    fp = checkpoint_fingerprint(ck)
    users = reg.list()
    if args.plot:
        from .space_plot import plot_emotion_space

        out = plot_emotion_space(ck, reg, args.plot, glove=args.glove)
        print(f"emotion space written to {out}")
        return 0
    if args.json:
        print(
            json.dumps(
                {
                    "checkpoint": str(ck.path),
                    "display": ck.display_emotions,
                    "trained": ck.emotion_words,
                    "user_added": [
                        {
                            "name": e.name,
                            "word": e.word,
                            "space": e.space,
                            "usable": e.space == ck.embedding_space,
                            "adapted": bool(e.adaptation and e.adaptation.get("checkpoint") == fp),
                            "examples": (e.adaptation or {}).get("examples", 0),
                        }
                        for e in users
                    ],
                },
                indent=1,
            )
        )
        return 0
    print(f"checkpoint: {ck.path}")
    print(f"shown by default ({len(ck.display_emotions)}): {', '.join(ck.display_emotions)}")
    other = [w for w in ck.emotion_words if w not in ck.display_emotions]
    if other:
        print(f"also trained ({len(other)}): {', '.join(other)}")
    if users:
        print(f"user-added ({len(users)}):")
        for e in users:
            alias = f" (word '{e.word}')" if e.word != e.name else ""
            if e.space != ck.embedding_space:
                note = f"  [needs {e.space} vectors: not used with this checkpoint]"
            else:
                note = f"  {adaptation_note(e, fp)}"
            print(f"  + {e.name}{alias}{note}")
    else:
        print("user-added: none (add one with `livemer add-emotion WORD`)")
    from .baseline import baseline_path, load_baseline

    base, note = load_baseline()
    if note:
        print(f"livemer: warning: {note}")
    elif base is not None:
        print(
            f"neutral baseline: {base.get('seconds', 0):g} s from {base.get('created', '?')} ({baseline_path()}); "
            f"used by `livemer run` (--no-calibration ignores it, --calibrate SECONDS replaces it)"
        )
    return 0


def compared_emotions(checkpoint) -> list[str]:
    """What a new emotion is compared with: the display set, plus ``neutral`` when the checkpoint has it."""
    return list(checkpoint.display_emotions) + [
        w for w in ("neutral",) if w in checkpoint.emotion_words and w not in checkpoint.display_emotions
    ]


def nearest_line(name: str, rows: dict, predictor, trained: list[str], k: int = 2) -> str:
    """'bored - text: ...; voice: sad 0.81, neutral 0.74; face: neutral 0.79' (cosine similarity)."""
    from model.geometry import nearest

    E = predictor.emotion_embeddings(trained)
    parts = []
    for m, label in (("text", "text"), ("acoustic", "voice"), ("visual", "face")):
        near = nearest(rows[m], trained, E[m], k, exclude=(name,))
        parts.append(f"{label}: " + ", ".join(f"{w} {s:.2f}" for w, s in near))
    return f"{name} - " + "; ".join(parts)


def run_add(args) -> int:
    from model.adapt import zero_shot_rows
    from model.checkpoint import load_checkpoint
    from model.inference import Predictor

    from .errors import LivemerError

    ck = load_checkpoint(args.checkpoint)
    word = args.word.strip()
    name = (args.name or word).strip()
    if not word or any(c.isspace() for c in word):
        raise LivemerError(f"'{args.word}' is not a single word")
    if (args.span or args.negatives) and not args.examples:
        raise LivemerError("--span and --negatives go with --examples PATH...")
    if name in ck.emotion_words:
        if args.examples:
            raise LivemerError(
                f"'{name}' is a trained emotion of this checkpoint; teach it under another name with --as"
            )
        if name == word:
            print(f"'{name}' is already a trained emotion of this checkpoint; nothing to add")
            return 0
        raise LivemerError(f"'{name}' is a trained emotion of this checkpoint; choose another --as name")
    prov = provider_for(ck, args.glove)
    vec = prov.vector(word)  # UnknownWordError -> one line with the five nearest words, exit 2
    stored_word = prov.lookup(word) or word
    if args.examples:
        return _teach(args, name, stored_word, vec, prov)
    reg = _user_registry()
    reg.add(name, stored_word, prov.name, vec)
    near = ", ".join(prov.nearest(word, 5))
    print(f"added '{name}' ({prov.name}); scored in text, acoustic and visual from now on. Nearest words: {near}")
    pred = Predictor(ck)
    print(nearest_line(name, zero_shot_rows(pred, vec), pred, compared_emotions(ck)))
    print(f"stored in {reg.path}")
    return 0


def _teach(args, name: str, word: str, vec, prov) -> int:
    import sys
    import time

    from tqdm import tqdm

    from . import teach
    from .engine import Engine, EngineConfig

    t0 = time.perf_counter()
    reg = _user_registry()
    for raw in list(args.examples) + list(args.negatives or []):
        if not os.path.exists(raw):
            from .errors import LivemerError

            raise LivemerError(f"{raw}: no such file or folder")
    # the examples are the user's own clips: their stored neutral baseline applies, as in `livemer run`
    engine = Engine(EngineConfig(checkpoint=args.checkpoint, glove=args.glove, calibration=True), registry=reg)
    for note in engine.notes:
        print(f"livemer: note: {note}", file=sys.stderr)
    total = teach.total_seconds(list(args.examples) + list(args.negatives or []))
    bar = tqdm(
        total=round(total, 1),
        unit="s",
        desc=f"examples of {name}",
        disable=None,
        file=sys.stderr,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s media [{elapsed}<{remaining}]",
    )
    reader = teach.ExampleReader(engine)
    try:
        outside = teach.WindowSet()
        pos = teach.collect(reader, args.examples, args.span, progress=bar.update, outside=outside)
        extra = []
        if args.negatives:
            neg = teach.collect(reader, args.negatives, None, progress=bar.update)
            pos.warnings += neg.warnings
            extra.append(("--negatives", neg.windows))
        if len(outside):
            extra.append(("examples outside --span", outside.windows))
    finally:
        bar.close()
        reader.close()
    for w in pos.warnings:
        print(f"livemer: warning: {w}", file=sys.stderr)
    res = teach.fit_from_windows(engine, name, vec, pos, extra_negatives=extra, registry=reg)
    for w in res.warnings[len(pos.warnings) :]:
        print(f"livemer: warning: {w}", file=sys.stderr)
    teach.store(reg, res, word, prov.name, vec, pos)
    a = res.adaptation
    negs = ", ".join(f"{k} {v}" for k, v in res.negative_sources.items())
    calib = "; relative to your stored neutral baseline" if a["calibrated"] else ""
    if a.get("recentred"):
        calib += ", re-centred on your neutral face and voice"
    if not a["calibrated"]:
        print(
            "livemer: note: no stored neutral baseline, so the examples are not calibrated; few-shot emotions "
            "carry over to other sessions much better with one (livemer run --calibrate 10, then teach again)",
            file=sys.stderr,
        )
    print(
        f"adapted '{name}' from {a['examples']} clip(s) ({a['windows']} windows) against {a['negatives']} "
        f"negative windows ({negs}) in {time.perf_counter() - t0:.1f} s; the trained emotions are unchanged{calib}"
    )
    from model.adapt import zero_shot_rows

    learned = {**zero_shot_rows(engine.predictor, vec), **res.fit.embeddings}
    print(nearest_line(name, learned, engine.predictor, compared_emotions(engine.checkpoint)))
    print(f"stored in {reg.path}")
    return 0
