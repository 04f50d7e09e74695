"""``livemer inspect [CKPT]``: what a checkpoint holds."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show a checkpoint's config, feature spaces, emotions and provenance")
    p.add_argument("checkpoint", nargs="?", help="checkpoint file (default: the embedded one)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--columns", action="store_true", help="also list every feature column and how filled ones are filled"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import math

    from model.checkpoint import load_checkpoint

    ck = load_checkpoint(args.checkpoint)
    s = ck.summary()
    if args.json:
        s["feature_spaces"] = {m: sp.to_dict() for m, sp in ck.feature_spaces.items()}
        print(json.dumps(s, indent=1, default=str))
        return 0
    size = ck.path.stat().st_size if ck.path else 0
    c = ck.config
    print(f"checkpoint   {ck.path}  ({size / 1e6:.1f} MB, {s['parameters']:,} parameters)")
    print(
        f"model        bi-LSTM x{c.num_layers}, dropout {c.dropout}; hidden t/a/v = "
        f"{c.hidden['text']}/{c.hidden['acoustic']}/{c.hidden['visual']}; emotion space {ck.embedding_space} ({c.emb_dim}-d)"
    )
    for m, sp in ck.feature_spaces.items():
        print(f"{m:<12} {sp.name} ({sp.dim}-d){f', {len(sp.filled)} filled columns' if sp.filled else ''}")
        if args.columns:
            for col in sp.columns:
                how = sp.filled.get(col)
                print(f"    {col}{'  <- ' + how if how else ''}")
    print(f"display      {', '.join(ck.display_emotions)}")
    print(f"trained      {', '.join(ck.emotion_words)}")
    prov = ck.provenance
    for key in ("data", "command", "date", "saved"):
        if key in prov:
            print(f"{key:<12} {prov[key]}")
    metrics = prov.get("metrics")
    if isinstance(metrics, dict):
        for k, v in metrics.items():
            if isinstance(v, float) and not math.isnan(v):
                print(f"metric       {k} = {v:.3f}")
            elif not isinstance(v, (dict, list)):
                print(f"metric       {k} = {v}")
    return 0
