"""``livemer emotions`` (list / remove) and ``livemer add-emotion WORD [--as NAME]``."""
from __future__ import annotations

import argparse


def add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", metavar="CKPT", help="checkpoint file (default: the embedded one)")
    p.add_argument("--glove", metavar="PATH",
                   help="GloVe text file for word vectors when the checkpoint does not use GloVe 6B 50-d")


def add_parser(sub) -> None:
    p = sub.add_parser("emotions", help="list the emotions the model knows, or remove a user-added one",
                       description="List trained and user-added emotions. `livemer emotions remove WORD` removes one.")
    p.add_argument("action", nargs="?", choices=["list", "remove"], default="list")
    p.add_argument("word", nargs="?", help="with remove: the user-added emotion to remove")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_checkpoint_args(p)
    p.set_defaults(func=run_emotions)

    a = sub.add_parser("add-emotion", help="add an emotion by its word (zero-shot, persists for this user)",
                       description="Add an unseen emotion by its word. It is scored in every modality through the "
                                   "learned mappings f_t->a and f_t->v, in every later `run` and `file`.")
    a.add_argument("word", help="a word with a vector in the checkpoint's embedding space, e.g. bored")
    a.add_argument("--as", dest="name", metavar="NAME", help="display name (default: the word)")
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


def run_emotions(args) -> int:
    import json

    from model.checkpoint import load_checkpoint

    from .errors import LivemerError
    from .registry import Registry

    reg = Registry()
    for w in reg.warnings:
        print(f"livemer: warning: {w}")
    if args.action == "remove":
        if not args.word:
            raise LivemerError("usage: livemer emotions remove WORD")
        if not reg.remove(args.word):
            known = ", ".join(e.name for e in reg.list()) or "none"
            raise LivemerError(f"'{args.word}' is not a user-added emotion (user-added: {known})")
        print(f"removed '{args.word}'")
        return 0
    ck = load_checkpoint(args.checkpoint)
    users = reg.list()
    if args.json:
        print(json.dumps({
            "checkpoint": str(ck.path),
            "display": ck.display_emotions,
            "trained": ck.emotion_words,
            "user_added": [{"name": e.name, "word": e.word, "space": e.space,
                            "usable": e.space == ck.embedding_space} for e in users],
        }, indent=1))
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
            note = "" if e.space == ck.embedding_space else f"  [needs {e.space} vectors: not used with this checkpoint]"
            print(f"  + {e.name}{alias}{note}")
    else:
        print("user-added: none (add one with `livemer add-emotion WORD`)")
    return 0


def run_add(args) -> int:
    from model.checkpoint import load_checkpoint

    from .registry import Registry

    ck = load_checkpoint(args.checkpoint)
    word = args.word.strip()
    name = (args.name or word).strip()
    from .errors import LivemerError

    if not word or any(c.isspace() for c in word):
        raise LivemerError(f"'{args.word}' is not a single word")
    if name in ck.emotion_words:
        if name == word:
            print(f"'{name}' is already a trained emotion of this checkpoint; nothing to add")
            return 0
        raise LivemerError(f"'{name}' is a trained emotion of this checkpoint; choose another --as name")
    prov = provider_for(ck, args.glove)
    vec = prov.vector(word)  # UnknownWordError -> one line with the five nearest words, exit 2
    reg = Registry()
    for w in reg.warnings:
        print(f"livemer: warning: {w}")
    reg.add(name, prov.lookup(word) or word, prov.name, vec)
    near = ", ".join(prov.nearest(word, 5))
    print(f"added '{name}' ({prov.name}); scored in text, acoustic and visual from now on. "
          f"Nearest words: {near}")
    print(f"stored in {reg.path}")
    return 0
