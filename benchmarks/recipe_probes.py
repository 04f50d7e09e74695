"""Quick sub-model probes of the default recipe's choices (the figures behind its v2.1 and v2.2 settings).

Usage:
    python benchmarks/recipe_probes.py visual [--borders 0,0.25] [--space facet35|both] [--input-layer N]
                                              [--hidden N] [--per-epoch N] [--epochs N] [--seed N]
                                              [--pos-weight-power P] [--ravdess keep|none] [--flip] [--dev]
    python benchmarks/recipe_probes.py text [--goemotions N] [--meld N] [--batch N] [--epochs N] [--lr X]
                                            [--lr-final X] [--dropout X] [--pos-weight-power X] [--layers N]
                                            [--dev-from-train FRACTION]
    python benchmarks/recipe_probes.py acoustic [--norm none|mean|meanstd[:mcep|:mcep0]] [--hidden N]
                                                [--input-layer N] [--per-epoch N] [--epochs N]
                                                [--pos-weight-power X] [--balance] [--loco] [--heldout]

Both load the recipe's data from the feature cache (``recipes.recipe_default.load_recipe_data``; the
photos again in the chosen visual space and border views) and train one sub-model with the main
run's settings (:class:`recipes.recipe_default.RecipeSettings`, seed 0) except the options given:

* ``visual``: the visual sub-model (face photos, plus RAVDESS's OpenFace rows in the Facet-35 space)
  on the training photos in every border view; prints the mean and lowest one-vs-rest AUC on the
  held-out photos as they are (border 0, as a live frame comes) and inside a 25 % border. ``--space
  both`` appends the 52 MediaPipe blendshapes (87 columns; RAVDESS's OpenFace rows get theirs from
  their AUs, ``--ravdess none`` leaves them out); it also scores the photos with the blendshape
  columns a backend without blendshapes (py-feat) gives. ``--dev`` scores a development split of the
  training photos (20 % of each source x emotion, seed 1; trained without it) instead of the
  held-out photos: choose on ``--dev``, then report held-out once.
* ``text``: the text sub-model on GoEmotions + MELD; prints the GoEmotions dev macro AUC after every
  epoch and the training time. ``--dev-from-train 0.1`` trains on 90 % of GoEmotions train and scores
  the other 10 % instead of dev (to choose settings; dev is then scored once).
* ``acoustic``: the acoustic sub-model at protocol size (``RecipeSettings.protocol``) on the training
  speakers only: 20 % of them (every corpus, another seed than the recipe's split) as dev speakers;
  ``--loco`` also leaves each voice corpus out among the training speakers (RAVDESS: its training
  actors); ``--heldout`` scores the recipe's held-out speakers once (for the report, not to choose).

Figures behind v2.3 (the acoustic step space ``--acoustic-space covarep-74+dynamics-28``, two seeds, the size of the
main run too): the tables in docs/live_training_data.md (section v2.3).

Figures behind v2.2 (seed 0, load 7-18 on the 2-core box; AUC %):

* text, GoEmotions dev carved from train (``--dev-from-train 0.1``): v2.1 (20000 + 4000, 6 epochs) 83.4;
  all + 8000 MELD, 6 epochs 84.9 (dropout 0.3: 84.9); the same, 9 epochs 85.3 (chosen; real dev once:
  ``text --goemotions 50000 --meld 8000 --epochs 9``: 85.6, MELD dev 72.6, 1244 s).
* acoustic, dev speakers / LOCO among training speakers: as shipped (hidden 64) 75.3 / 70.5; ``--norm mean``
  68.7 / stopped after nemo 64.5, ased 59.6; ``mean:mcep`` 75.0 / 70.9; ``meanstd:mcep`` 73.9 / 70.3;
  ``--pos-weight-power 0.5`` 75.4 / 70.4; ``--balance`` 75.9 / 70.1; ``--hidden 96`` 77.0 / 69.8; ``--hidden 128``
  76.6 / 70.1; ``--hidden 96 --balance`` 77.4 / 70.1; ``--hidden 96 --norm mean:mcep`` 74.2 / 70.2;
  ``--hidden 96 --epochs 9`` 77.3 (dev only). None changes the default: no gain on both beyond one seed's noise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _settings(**kw):
    from recipes.recipe_default import RecipeSettings

    return replace(RecipeSettings(), **{k: v for k, v in kw.items() if v is not None})


def _scores(net, vectors, names, ds, modality: str) -> dict:
    """One-vs-rest AUC table of a trained net on ``ds`` (one modality present), through the torch net."""
    import torch

    from model.metrics import evaluate_scores
    from recipes.recipe_default import SEEN, annotates

    ems = [e for e in (SEEN if modality == "visual" else ds.emotions) if e in names and annotates(ds, e)]
    sub = ds.select_emotions(ems)
    E = torch.from_numpy(vectors[[names.index(e) for e in ems]])
    n = len(sub)
    xs = {m: torch.zeros(n, 1, np.shape(getattr(sub, m))[2]) for m in ("text", "acoustic", "visual")}
    xs[modality] = torch.from_numpy(np.ascontiguousarray(getattr(sub, modality), np.float32))
    mask = torch.zeros(n, 3, dtype=torch.bool)
    mask[:, ("text", "acoustic", "visual").index(modality)] = True
    net.eval()
    with torch.no_grad():
        logits = net(xs["text"], xs["acoustic"], xs["visual"], E, mask).logits.numpy()
    return evaluate_scores(sub.labels, logits, ems, 0.0, sub.label_mask).to_dict()


def _fallback_rows(ds):
    """``ds`` (87-column space) with the 52 blendshape columns replaced by what a backend without blendshapes
    (py-feat) gives: the MediaPipe AUs of the photo -> ``aus_to_blendshapes`` (the Facet-35 part unchanged)."""
    from feature_adapters.blendshapes import BLENDSHAPE_NAMES, aus_to_blendshapes, blendshape_row
    from feature_adapters.face_mediapipe import blendshapes_to_aus

    v = np.array(ds.visual, np.float32)
    m = np.asarray(ds.step_masks["visual"], bool)
    last = v[np.arange(len(v)), m.shape[1] - 1 - np.argmax(m[:, ::-1], axis=1)]
    fb = np.stack(
        [blendshape_row(aus_to_blendshapes(blendshapes_to_aus(dict(zip(BLENDSHAPE_NAMES, r[35:]))))) for r in last]
    )
    v[:, :, 35:] = np.where(m[:, :, None], fb[:, None, :], 0.0)
    return replace(ds, visual=v)


def _mirror(ds):
    """``ds`` as the horizontally flipped photos would read, approximately: Left/Right blendshapes swapped,
    yaw and roll negated in Facet-35 (a cheap stand-in for running the flipped photos through MediaPipe)."""
    from feature_adapters.blendshapes import BLENDSHAPE_NAMES
    from feature_adapters.facet import FACET35_COLUMNS

    perm = list(range(ds.visual.shape[2]))
    off = 35 if ds.visual.shape[2] == 87 else None
    if off is not None:
        idx = {n: off + j for j, n in enumerate(BLENDSHAPE_NAMES)}
        for n, j in idx.items():
            if n.endswith("Left"):
                perm[j], perm[idx[n[:-4] + "Right"]] = idx[n[:-4] + "Right"], j
    v = np.array(ds.visual, np.float32)[:, :, perm]
    for c in ("Yaw", "Roll"):
        v[:, :, FACET35_COLUMNS.index(c)] *= -1.0
    return replace(ds, visual=v, groups={k: list(g) for k, g in ds.groups.items()})


def visual(args, data, provider) -> None:
    from model.datasets import concat
    from recipes import recipe_default as R
    from recipes.faces import BOTH, FACET, load_faces
    from recipes.mixing import normalise_sources
    from recipes.splits import holdout

    space = BOTH if args.space == "both" else FACET
    s = _settings(
        visual_input_layer=args.input_layer,
        hidden_visual=args.hidden,
        faces_per_epoch=args.per_epoch,
        epochs=args.epochs,
        pos_weight_power=args.pos_weight_power,
        visual_space=space,
        seed=args.seed,
        pooling=args.pooling,
        threads=1,
    )
    held = sorted(R.heldout_photos(args.shared, s))
    borders = [float(b) for b in args.borders.split(",")]
    views = {  # a photo has no voice: its acoustic steps are zeros of the recipe's acoustic width
        b: R.with_acoustic_dim(load_faces(args.shared, space=space, border=b), s.window.acoustic_dim)
        for b in sorted(set(borders) | {0.0, 0.25})
    }
    if args.loso:  # leave one photo source out: train on the other source (all its photos), test on this one
        splits = {}
        for x in ("muxspace", "emilmrk"):
            keys = sorted(set(views[0.0].group("photo")[views[0.0].group("source") == x].tolist()))
            splits[f"test on {x}"] = (keys, keys)
    elif args.dev:  # a development split of the TRAINING photos: 20 % of each (source, emotion), seed 1
        tr0 = R.where_group(views[0.0], "photo", held, keep=False)
        _, dv = holdout(tr0, "photo", s.holdout, seed=1, within="source", by_label=True)
        dev_keys = sorted(set(tr0.group("photo")[dv].tolist()))
        splits = {"dev": (dev_keys, held + dev_keys)}
    else:
        splits = {"held-out": (held, held)}
    line = []
    t0 = time.perf_counter()
    for split, (test_keys, exclude) in splits.items():
        train = concat([R.where_group(views[b], "photo", exclude, keep=False) for b in borders], "faces-train")
        if args.flip:
            train = concat([train, _mirror(train)], "faces-train")
        sets = {"faces": train}
        if args.ravdess != "none":
            rav = R.only_modalities(data.ravdess_train, "v")
            sets["ravdess"] = R.zero_blendshapes(rav) if args.ravdess == "zeros" else rav
        run = R.train_embedding_model(sets, provider, s, seed=s.seed)
        for b in (0.0,) if args.loso else (0.0, 0.25):
            va = R.where_group(views[b], "photo", test_keys)
            tests = {"": va}
            if space == BOTH and b == 0.0 and not args.loso:
                tests[" py-feat-style blendshapes from AUs"] = _fallback_rows(va)
                tests[" blendshape columns 0"] = R.zero_blendshapes(va)
            for label, ds in tests.items():
                t = _scores(run.net, run.vectors, run.names, normalise_sources([ds], run.normalization)[0], "visual")
                per = " ".join(f"{e} {100 * r['auc']:.1f}" for e, r in t["per_emotion"].items())
                line.append(
                    f"{split}, border {b:g}{label}: {100 * R._avg(t):.1f} (lowest {100 * R._min_emotion(t):.1f}; {per})"
                )
    print(
        f"visual {args.space}, {'LOSO' if args.loso else 'DEV split' if args.dev else 'HELD-OUT'} photos, ravdess {args.ravdess}, train views "
        f"{args.borders}{' + mirror' if args.flip else ''}, input layer {s.visual_input_layer}, hidden "
        f"{s.hidden_visual}, epochs {s.epochs}, {s.faces_per_epoch} photos/epoch, pos_weight_power "
        f"{s.pos_weight_power}, seed {s.seed}:\n  " + "\n  ".join(line) + f"\n  ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )


def _carve(ds, fraction: float, key: str | None = None, within: str | None = None, seed: int = 1):
    """(rest, dev) of ``ds``: ``fraction`` of its samples (or of its ``key`` groups within ``within``) as a dev split
    (a different seed from the recipe's held-out split, which is never touched here)."""
    from recipes.splits import holdout

    if key is None:
        idx = np.random.default_rng([seed, 31]).permutation(len(ds))
        k = int(round(fraction * len(ds)))
        return ds.subset(np.sort(idx[k:])), ds.subset(np.sort(idx[:k]))
    tr, va = holdout(ds, key, fraction, seed=seed, within=within or ())
    return ds.subset(tr), ds.subset(va)


def text(args, data, provider) -> None:
    import torch

    from model.config import ModelConfig
    from model.network import EmotionEmbeddingNet
    from recipes import recipe_default as R
    from recipes.mixing import train_mixture

    s = _settings(
        goemotions_per_epoch=args.goemotions,
        meld_per_epoch=args.meld,
        text_batch_size=args.batch,
        epochs=args.epochs,
        lr=args.lr,
        lr_final=args.lr_final,
        dropout=args.dropout,
        pos_weight_power=args.pos_weight_power,
        num_layers=args.layers,
        pooling=args.pooling,
        threads=1,
    )
    torch.set_num_threads(1)
    g_train, g_dev, which = data.goemotions_train, data.goemotions_dev, "dev"
    if args.dev_from_train:  # choose on a split carved from GoEmotions train; the real dev is not scored
        g_train, g_dev = _carve(g_train, args.dev_from_train)
        which = f"train-carved dev ({len(g_dev)})"
    sets = {"goemotions": g_train, "meld": data.meld_train}
    names = R.emotion_names(sets)
    vectors, _ = R.emotion_vectors(names, provider)
    sources = R.mixture_sources(sets, names, s, {})
    torch.manual_seed(0)
    cfg = ModelConfig(
        input_dims={
            "text": provider.dim,
            "acoustic": np.shape(g_train.acoustic)[2],
            "visual": np.shape(g_train.visual)[2],
        },
        hidden={"text": provider.dim, "acoustic": 8, "visual": 8},
        emb_dim=provider.dim,
        num_layers=s.num_layers,
        dropout=s.dropout,
        pooling=s.pooling,
    )
    net = EmotionEmbeddingNet(cfg)
    E = torch.from_numpy(vectors)
    sched = R.mix_schedule(s, seed=0, modality_dropout=0.0)  # text only: no modality to drop

    def on_epoch(epoch, net):
        return {
            "goemotions_auc": R._avg(_scores(net, vectors, names, g_dev, "text")),
            "meld_dev_auc": R._avg(_scores(net, vectors, names, data.meld_dev, "text")),
        }

    h = train_mixture(
        net, lambda t, a, v, m: net(t, a, v, E, m).logits, sources, sched, on_epoch=on_epoch, eval_every=1, log=print
    )
    last = h.epochs[-1]["valid"]
    print(
        f"text: {s.goemotions_per_epoch} GoEmotions + {s.meld_per_epoch} MELD per epoch, batch "
        f"{s.text_batch_size or s.batch_size}, {s.epochs} epochs, lr {s.lr:g} -> x{s.lr_final:g}, dropout "
        f"{s.dropout:g}, layers {s.num_layers}, pos_weight power {s.pos_weight_power:g}: GoEmotions {which} macro AUC "
        f"{100 * last['goemotions_auc']:.1f}, MELD dev {100 * last['meld_dev_auc']:.1f} ({h.seconds:.0f} s)"
    )


def acoustic(args, data, provider) -> None:
    """The acoustic sub-model at protocol size on the training speakers only: dev speakers carved from them (every
    corpus), and leave-one-corpus-out among them (train on the others' training speakers, test on X's)."""
    from recipes import recipe_default as R

    norm = None if args.norm is None else ("" if args.norm == "none" else args.norm)
    ps = _settings(
        acoustic_norm=norm,
        pos_weight_power=args.pos_weight_power,
        speech_balance=args.balance or None,
        pooling=args.pooling,
        threads=1,
    ).protocol()
    over = dict(
        hidden_acoustic=args.hidden,
        acoustic_input_layer=args.input_layer,
        speech_per_epoch=args.per_epoch,
        epochs=args.epochs,
        weight_decay=args.weight_decay,
        acoustic_l2=args.acoustic_l2,
        acoustic_offset_noise=args.acoustic_offset_noise,
        ema_epochs=args.ema,
    )
    ps = replace(ps, **{k: v for k, v in over.items() if v is not None})
    ps = replace(ps, window=replace(ps.window, acoustic_space=args.acoustic_space or ps.window.acoustic_space))
    rav = R.only_modalities(data.ravdess_train, "a")
    sp = data.speech_train  # the recipe's held-out speakers are never used here
    rest, dev = _carve(sp, 0.2, key="speaker", within="corpus")
    folds = ["dev"] + (list(R.VOICE_CORPORA) if args.loco else []) + (["held-out"] if args.heldout else [])
    out = {}
    t0 = time.perf_counter()
    for f in folds:
        if f == "dev":
            sets, test = {"ravdess": rav, "speech": rest}, dev
        elif f == "held-out":  # once, for the report: all training speakers -> the recipe's held-out speakers
            sets, test = {"ravdess": rav, "speech": sp}, data.speech_valid
        elif f == "ravdess":
            sets, test = {"speech": sp}, rav  # RAVDESS's training actors (its validation actors stay unseen)
        else:
            sets = {"ravdess": rav, "speech": R.where_group(sp, "corpus", [f], keep=False)}
            test = R.where_group(sp, "corpus", [f])
        r = R.train_embedding_model(sets, provider, ps, seed=args.seed)
        va = normalise(test, r.normalization)
        out[f] = R._avg(_scores(r.net, r.vectors, r.names, va, "acoustic"))
        print(f"  {f}: {100 * out[f]:.1f}", flush=True)
    loco = [out[c] for c in R.VOICE_CORPORA if c in out]
    print(
        f"acoustic norm {ps.acoustic_norm}, hidden {ps.hidden_acoustic}, input layer {ps.acoustic_input_layer}, "
        f"{ps.speech_per_epoch}/epoch{' balanced' if ps.speech_balance else ''}, {ps.epochs} epochs, pos_weight power {ps.pos_weight_power:g}: dev speakers "
        f"{100 * out['dev']:.1f}"
        + (
            f"; LOCO (train speakers) mean {100 * np.mean(loco):.1f} ("
            + ", ".join(f"{c} {100 * out[c]:.1f}" for c in R.VOICE_CORPORA)
            + ")"
            if loco
            else ""
        )
        + (f"; held-out speakers {100 * out['held-out']:.1f}" if "held-out" in out else "")
        + f" ({time.perf_counter() - t0:.0f} s)"
    )


def normalise(ds, normalization):
    from recipes.mixing import normalise_sources

    return normalise_sources([ds], normalization)[0]


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument(
        "--pooling", default=None, help="every encoder's pooling (model.config.POOLINGS; default: the recipe's)"
    )
    sub = ap.add_subparsers(dest="what", required=True)
    v = sub.add_parser("visual")
    v.add_argument("--borders", default="0,0.25")
    v.add_argument("--space", choices=("facet35", "both"), default="facet35")
    v.add_argument("--input-layer", type=int, default=None)
    v.add_argument("--hidden", type=int, default=None)
    v.add_argument("--per-epoch", type=int, default=None)
    v.add_argument("--epochs", type=int, default=None)
    v.add_argument("--pos-weight-power", type=float, default=None)
    v.add_argument("--seed", type=int, default=None)
    v.add_argument(
        "--ravdess",
        choices=("keep", "zeros", "none"),
        default="keep",
        help="RAVDESS OpenFace rows in training (zeros: their 52 blendshape columns 0)",
    )
    v.add_argument("--flip", action="store_true", help="add a mirrored view (L/R blendshapes swapped)")
    v.add_argument("--dev", action="store_true", help="score a dev split of the training photos, not held-out")
    v.add_argument("--loso", action="store_true", help="leave one photo source out (train on the other)")
    v.add_argument(
        "--variants",
        default=None,
        help="several runs on one data load: 'hidden=64;epochs=10,flip=1' (';' between runs, ',' between options)",
    )
    t = sub.add_parser("text")
    t.add_argument("--goemotions", type=int, default=None)
    t.add_argument("--meld", type=int, default=None)
    t.add_argument("--batch", type=int, default=None)
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--lr-final", type=float, default=None)
    t.add_argument("--dropout", type=float, default=None)
    t.add_argument("--pos-weight-power", type=float, default=None)
    t.add_argument("--layers", type=int, default=None)
    t.add_argument("--dev-from-train", type=float, default=0.0, help="score a split carved from GoEmotions train")
    a = sub.add_parser("acoustic")
    a.add_argument(
        "--acoustic-space",
        default=None,
        help="acoustic step space: covarep-74 (step means) or covarep-74+dynamics-28 (default: the recipe's)",
    )
    a.add_argument("--seed", type=int, default=0, help="training seed (the dev speakers stay the same)")
    a.add_argument("--weight-decay", type=float, default=None, help="the optimiser's weight decay (default: 0)")
    a.add_argument("--acoustic-l2", type=float, default=None, help="L2 on the acoustic encoder (voice batches)")
    a.add_argument("--acoustic-offset-noise", type=float, default=None, help="per-sample acoustic offsets (sigma)")
    a.add_argument("--ema", type=float, default=None, help="moving average of the weights over N epochs")
    a.add_argument("--norm", default=None, help="per-window acoustic normalisation: none, mean, meanstd")
    a.add_argument("--hidden", type=int, default=None)
    a.add_argument("--input-layer", type=int, default=None)
    a.add_argument("--per-epoch", type=int, default=None)
    a.add_argument("--epochs", type=int, default=None)
    a.add_argument("--pos-weight-power", type=float, default=None)
    a.add_argument("--balance", action="store_true", help="speech per epoch split evenly over the corpora")
    a.add_argument("--heldout", action="store_true", help="also score the recipe's held-out speakers (report once)")
    a.add_argument("--loco", action="store_true", help="also leave one corpus out (among the training speakers)")
    args = ap.parse_args(argv)
    if not (Path(args.shared) / "data").is_dir():
        print(f"error: {args.shared}: no shared data folder", file=sys.stderr)
        return 2
    from feature_adapters.embeddings import get_provider
    from recipes.recipe_default import RecipeSettings, load_recipe_data

    provider = get_provider()
    from recipes.faces import BOTH, FACET

    space = BOTH if getattr(args, "space", "facet35") == "both" else FACET
    # RAVDESS's rows as loaded (in the 87-column space: blendshapes from their AUs); --ravdess picks per run
    data = load_recipe_data(
        args.shared,
        provider,
        replace(
            RecipeSettings(),
            face_borders=(0.0,),
            visual_space=space,
            ravdess_visual="keep",
            window=replace(
                RecipeSettings().window,
                acoustic_space=getattr(args, "acoustic_space", None) or RecipeSettings().window.acoustic_space,
            ),
        ),
    )
    if args.what == "visual" and args.variants:
        for v in args.variants.split(";"):
            a = argparse.Namespace(**vars(args))
            for kv in filter(None, v.split(",")):
                k, val = kv.split("=", 1)
                k = k.strip().replace("-", "_")
                old = getattr(args, k)
                if k == "borders":
                    val = val.replace("+", ",")
                elif k in ("flip", "dev", "loso"):
                    val = val not in ("0", "false", "")
                elif old is None or isinstance(old, (int, float)) and not isinstance(old, bool):
                    val = float(val) if k == "pos_weight_power" else int(val)
                setattr(a, k, val)
            visual(a, data, provider)
        return 0
    {"visual": visual, "text": text, "acoustic": acoustic}[args.what](args, data, provider)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
