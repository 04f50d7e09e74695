"""Few-shot adaptation on RAVDESS: 8 examples of an emotion from ONE speaker, evaluated on OTHER speakers.

Usage: nice python benchmarks/fewshot_eval.py [--emotion calm] [--zero-rows] [--speakers 1-16] [--shots 8]
       [--per-emotion 16] [--l2 0.001 0.003 0.01 0.03 0.1] [--methods plain,offset,recentre,offset+recentre]
       [--calibrate] [--adapt acoustic,visual] [--pool]
       [--write-replay-checkpoint OUT.ckpt] [--checkpoint CKPT] [--shared ../shared]

README figures: ``--calibrate`` (calm), ``--calibrate --emotion sad --zero-rows`` and
``--calibrate --emotion fear --zero-rows`` (a trained emotion taught as new: its rows start at zero and
its windows leave the replay), and without ``--calibrate``.
Deterministic: no seed to pick.

Selection: every (method, acoustic l2, visual l2) of the grid is fitted for every teacher; the one reported is the one with the
best mean AUC on DEVELOPMENT actors, the training actors 1-16 other than the teacher (their clips outside the
replay pool and outside their calibration), never on actors 17-20. The library default is what
``add-emotion --examples`` does: method "offset" ("offset+recentre" with ``--calibrate`` when the checkpoint's
``few_shot.recentre`` is set: a calibrated user's examples are re-centred on their stored neutral windows) with the
checkpoint's own ``few_shot.l2``, else ``model.adapt.DEFAULT_L2`` (``model.adapt.checkpoint_l2``): what this
selection chose for calm with ``--calibrate`` on that checkpoint (``recipes.recipe_default.FEW_SHOT``).

Protocol (what ``livemer add-emotion WORD --examples`` does, on RAVDESS):

* features: livemer's own acoustic extractor on the 16 kHz audio (the shared
  feature cache when it holds the clip, else extracted now) and the clip-level
  OpenFace action units through the live OpenFace -> Facet-35 adapter, cut into
  windows by the live aligner (``model.recipe_data.clip_windows``). No speech
  recognition: the text modality is absent, so every figure is acoustic + visual
  (RAVDESS's two sentences carry no emotion anyway);
* examples: ``--shots`` clips of the emotion from one speaker (strong intensity
  first), every 0.2 s window ending at least 1 s into the clip (file mode's hop);
  methods "recentre" move them by (replay neutral - the teacher's own neutral) mean
  representation, the teacher's neutral being the clips that calibrate them (statement 1);
  "offset" fits an intercept (the adapter's score offset);
* negatives: a replay set of the seen emotions, ``--per-emotion`` windows each,
  drawn from actors 1-16 except the speaker (what a checkpoint carries,
  ``model.adapt.attach_replay``);
* development (selection only): actors 1-16 except the teacher, one window per clip at its end;
* evaluation: actors 17-20 (never trained), one window per clip at its end;
  AUC of the new emotion (adapted vs zero-shot) and the mean AUC of the seen
  emotions before and after (scored through the Predictor with the adapter set).

Every speaker in ``--speakers`` is run (no picking); mean, sd, min and max are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from model import adapt, calibration  # noqa: E402
from model.checkpoint import load_checkpoint  # noqa: E402
from model.inference import Predictor, batch_windows  # noqa: E402
from model.metrics import roc_auc  # noqa: E402

try:  # the recipe modules move to recipes/ (branch i10m)
    from recipes import corpora, recipe_data  # type: ignore[import-not-found]
    from recipes.recipe_extract import extract_clips  # type: ignore[import-not-found]
except ImportError:
    from model import corpora, recipe_data
    from model.recipe_extract import extract_clips

VALID_ACTORS = (17, 18, 19, 20)
HOP = 0.2
MIN_END = 1.0


def parse_range(s: str) -> list[int]:
    out: list[int] = []
    for part in s.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def label_of(c) -> str:
    return c.emotion if c.emotion in corpora.HELD_OUT else c.name


METHODS = ("plain", "offset", "recentre", "offset+recentre")


def parse_methods(s: str) -> list[str]:
    out = [m.strip() for m in s.split(",") if m.strip()]
    bad = [m for m in out if m not in METHODS]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"methods are {', '.join(METHODS)} (comma-separated)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emotion", default="calm", help="the emotion taught (RAVDESS name: calm, or a seen one: sad ...)")
    ap.add_argument(
        "--zero-rows",
        action="store_true",
        help="start (and regularise) the taught rows at zero instead of the word's rows: with a trained "
        "emotion, it is taught as new (its own trained rows are not used; its windows leave the replay)",
    )
    ap.add_argument("--speakers", default="1-16", help="example speakers, e.g. 1-16 or 1,3,5")
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--per-emotion", type=int, default=16, help="replay windows per seen emotion")
    ap.add_argument(
        "--l2",
        type=float,
        nargs="+",
        default=[0.001, 0.003, 0.01, 0.03, 0.1],
        help="the l2 grid of each adapted modality (every acoustic x visual pair is tried)",
    )
    ap.add_argument("--show", type=int, default=12, help="grid rows printed (best on dev first)")
    ap.add_argument(
        "--methods", type=parse_methods, default=list(METHODS), help=f"the method grid: {', '.join(METHODS)}"
    )
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument(
        "--calibrate",
        action="store_true",
        help="per-speaker baseline: every speaker's neutral clips of statement 1 shift its features "
        "(model.calibration); those clips leave the evaluation set",
    )
    ap.add_argument(
        "--adapt",
        default=",".join(adapt.ADAPTED_MODALITIES),
        help="modalities whose rows are learned (comma-separated; default acoustic,visual)",
    )
    ap.add_argument(
        "--pool", action="store_true", help="reference ceiling: the examples of all --speakers together as one teacher"
    )
    ap.add_argument(
        "--write-replay-checkpoint",
        metavar="OUT",
        help="also write the checkpoint with a replay set of actors 1-16 (--per-emotion windows of "
        "each trained emotion) attached, for `livemer add-emotion --examples`",
    )
    args = ap.parse_args(argv)

    from feature_adapters.embeddings import get_provider

    t0 = time.perf_counter()
    provider = get_provider()
    ck = load_checkpoint(args.checkpoint)
    pred = Predictor(ck, threads=1)
    target = args.emotion
    seen = [e for e in ck.display_emotions if e != target]
    paths = recipe_data.shared_paths(args.shared)
    clips = corpora.ravdess_clips(paths["ravdess_audio"])
    face = corpora.ravdess_face_aus(paths["ravdess_face"])
    speakers = parse_range(args.speakers)
    if args.pool and args.calibrate:
        ap.error("--pool mixes speakers, so it cannot use one speaker's --calibrate baseline")
    if set(speakers) & set(VALID_ACTORS):
        ap.error("example speakers must not be validation actors 17-20")
    adapted = [m.strip() for m in args.adapt.split(",") if m.strip()]

    def is_target(c) -> bool:
        return label_of(c) == target

    ex_clips = {
        s: recipe_data.select_clips([c for c in clips if c.actor == s and is_target(c)], args.shots) for s in speakers
    }
    calib: dict[int, list] = {c.actor: [] for c in clips}
    for c in clips:
        if c.emotion == "neutral" and c.statement == 1:
            calib[c.actor].append(c)
    own_neutral = {s: list(calib[s]) for s in speakers}  # what a teacher's calibration records
    teachers = {s: [s] for s in speakers}  # their clips never count as development data
    if args.pool:
        teachers = {0: list(speakers)}
        ex_clips = {0: [c for s in speakers for c in ex_clips[s]]}
        own_neutral = {0: [c for s in speakers for c in own_neutral[s]]}
        speakers = [0]
    pool = recipe_data.select_clips(
        [c for c in clips if c.actor not in VALID_ACTORS and c.emotion not in corpora.HELD_OUT and not is_target(c)], 2
    )
    in_pool = {c.path for c in pool}
    valid = [c for c in clips if c.actor in VALID_ACTORS]
    dev_actors = sorted({c.actor for c in clips} - set(VALID_ACTORS))
    dev = [c for c in clips if c.actor in dev_actors and c.path not in in_pool and c not in calib[c.actor]]
    if args.calibrate:  # the clips that calibrate a validation actor are not scored
        valid = [c for c in valid if c not in calib[c.actor]]
    need = sorted({c.path for c in valid + pool + dev} | {c.path for a in calib for c in calib[a]})
    print(f"extracting acoustic features of {len(need)} clips (cache first) ...", file=sys.stderr, flush=True)
    audio = dict(zip(need, extract_clips(need, text=False)))
    space = ck.feature_spaces["visual"].name if "visual" in ck.feature_spaces else "facet-35"  # the checkpoint's
    rows = {c.path: recipe_data.ravdess_visual_rows(face, [c.face_key], space)[0] for c in clips if c.path in audio}
    t_feat = time.perf_counter() - t0
    aco = ck.feature_spaces["acoustic"].name if "acoustic" in ck.feature_spaces else "covarep-74"
    win = recipe_data.WindowSettings(acoustic_space=aco)  # the checkpoint's acoustic step space

    def windows(c, ends):
        return recipe_data.clip_windows(audio[c.path], rows[c.path], ends, provider, win)

    def dense(c):
        dur = audio[c.path].duration
        ts = np.arange(MIN_END, dur + 1e-9, HOP)
        return windows(c, list(ts / dur) or [1.0])

    # calibration: the reference is the training actors' neutral windows
    ref_b = batch_windows([w for c in pool if c.emotion == "neutral" for w in windows(c, (0.6, 0.8, 1.0))])
    ref = {m: calibration.observed_mean(getattr(ref_b, m), ref_b.step_masks[m]) for m in calibration.CALIBRATED}

    def shift_of(actor):
        if not args.calibrate or actor not in calib:
            return None
        b = batch_windows([w for c in calib[actor] for w in dense(c)])
        return calibration.baseline_shift({m: getattr(b, m) for m in calibration.CALIBRATED}, b.step_masks, ref)

    shifts = {a: shift_of(a) for a in sorted(calib)}

    # evaluation (17-20) and development (1-16 but the teacher) windows at clip ends, each actor calibrated
    def end_windows(cs):
        cs = sorted(cs, key=lambda c: c.actor)
        reps, labs, acts = [], [], []
        for a in sorted({c.actor for c in cs}):
            mine = [c for c in cs if c.actor == a]
            b = batch_windows([windows(c, [1.0])[0] for c in mine])
            pred.set_calibration(shifts.get(a))
            reps.append((b, adapt.encode_batch(pred, b, "av")))
            labs += [label_of(c) for c in mine]
            acts += [a] * len(mine)
        pred.set_calibration(None)
        return reps, np.asarray(labs), np.asarray(acts)

    vparts, vlab, _ = end_windows(valid)
    dparts, dlab, dact = end_windows(dev)
    vex = adapt.Examples.concat([e for _, e in vparts])
    dex = adapt.Examples.concat([e for _, e in dparts])
    emos = seen + [target]
    y = {e: (vlab == e).astype(float) for e in emos}

    def evaluate(calibrated: bool = True) -> dict[str, float]:
        parts = []
        for (b, _), a in zip(vparts, VALID_ACTORS):
            pred.set_calibration(shifts.get(a) if calibrated else None)
            parts.append(np.stack([p.probabilities for p in pred.predict_batch(b, emos, "av")]))
        pred.set_calibration(None)
        P = np.concatenate(parts)
        return {e: roc_auc(y[e], P[:, k]) for k, e in enumerate(emos)}

    vec = ck.vector_of(target)
    if vec is None:  # an unseen word, as `livemer add-emotion` adds it
        vec = provider.vector(target)
        pred.add_emotion(target, vec)
    before = evaluate()
    uncal = evaluate(False)
    init = adapt.zero_shot_rows(pred, vec)
    if args.zero_rows:
        init = {m: (np.zeros_like(v) if m in adapted else v) for m, v in init.items()}

    # the replay pool: seen emotions of the training actors, windows at 0.6/0.8/1.0 of each clip
    replay_words = [e for e in recipe_data.ravdess_names() if e in ck.emotion_words and e != target]
    pw, pl, pa = [], [], []
    for c in pool:
        for w in windows(c, (0.6, 0.8, 1.0)):
            pw.append(w)
            pl.append(replay_words.index(c.name) if c.name in replay_words else -1)
            pa.append(c.actor)
    pool_ex = adapt.encode_batch(pred, batch_windows(pw), "av")
    pl, pa = np.asarray(pl), np.asarray(pa)
    labels = np.zeros((len(pl), len(replay_words)))
    labels[np.arange(len(pl))[pl >= 0], pl[pl >= 0]] = 1

    configs = [(meth, la, lv) for meth in args.methods for la in args.l2 for lv in args.l2]
    if len(adapted) == 1:
        configs = [(meth, la, la) for meth in args.methods for la in args.l2]
    results: dict[tuple, list] = {k: [] for k in configs}
    t_fit, n_fit = 0.0, 0
    for s in speakers:
        if len(ex_clips[s]) < args.shots and not args.pool:
            print(f"speaker {s}: only {len(ex_clips[s])} {target} clips, skipped", file=sys.stderr)
            continue
        ws, groups = [], []
        for c in ex_clips[s]:
            d = dense(c)
            ws += d
            groups += [c.path.name] * len(d)
        nw = [w for c in own_neutral[s] for w in dense(c)]
        pred.set_calibration(shifts.get(s))
        pos = adapt.encode_batch(pred, batch_windows(ws), "av", adapt.clip_weights(groups))
        own = adapt.encode_batch(pred, batch_windows(nw), "av")
        pred.set_calibration(None)
        # replay: per seen emotion, per_emotion windows from actors other than the teacher(s)
        keep = ~np.isin(pa, teachers[s])
        idx = adapt.replay_indices(labels[keep], None, pool_ex.mask[keep], args.per_emotion, seed=0)
        sel = np.flatnonzero(keep)[idx]
        neg = adapt.Examples({m: v[sel] for m, v in pool_ex.reps.items()}, pool_ex.mask[sel])
        pop = adapt.labelled(neg, labels[sel], replay_words, "neutral")
        dsel = ~np.isin(dact, teachers[s])
        dsub = adapt.Examples({m: v[dsel] for m, v in dex.reps.items()}, dex.mask[dsel])
        dy = (dlab[dsel] == target).astype(float)
        for meth, la, lv in configs:
            l2 = {"acoustic": la, "visual": lv}
            p = adapt.recentre(pos, own, pop, adapted) if "recentre" in meth and pop is not None else pos
            t1 = time.perf_counter()
            fit = adapt.fit_adapter(
                p, neg, init, pred.fusion_weights, l2=l2, modalities=adapted, intercept="offset" in meth
            )
            t_fit += time.perf_counter() - t1
            n_fit += 1
            r = fit.rows()
            d_auc = roc_auc(dy, adapt.adapted_logits(dsub, r, init, pred.fusion_weights)) if dy.any() else float("nan")
            results[(meth, la, lv)].append(
                (s, roc_auc(y[target], adapt.adapted_logits(vex, r, init, pred.fusion_weights)), d_auc, r)
            )

    if args.write_replay_checkpoint:
        train_clips = [c for c in pool if c.name in replay_words]
        ds = recipe_data.build_ravdess(
            train_clips,
            [audio[c.path] for c in train_clips],
            face,
            provider,
            (0.6, 0.8, 1.0),
            include_calm=False,
            name="ravdess actors 1-16",
        )
        ds = ds.select_emotions(replay_words)
        n = adapt.attach_replay(ck, ds, args.per_emotion)
        print(f"wrote {ck.save(args.write_replay_checkpoint)} with a replay set of {n} windows")

    seen_before = float(np.mean([before[e] for e in seen]))
    print(
        f"\nfew-shot '{target}' from {args.shots} clips of one speaker; evaluated on actors 17-20 "
        f"({len(valid)} clips, {int(y[target].sum())} positive), modalities acoustic+visual"
    )
    print(
        f"adapted rows: {args.adapt}{' (prior: zero rows)' if args.zero_rows else ''}; checkpoint {ck.path} "
        f"({adapt.checkpoint_fingerprint(ck)}); replay {args.per_emotion} windows of each of {', '.join(replay_words)}"
    )
    print(
        f"development (selection only): actors {dev_actors[0]}-{dev_actors[-1]} except the teacher, "
        f"{len(dev)} clips ({int((dlab == target).sum())} positive)"
    )
    print(
        f"before: '{target}' AUC {before[target]:.3f}{' (its trained rows)' if target in ck.emotion_words else ' (zero-shot)'}; "
        f"seen mean AUC {seen_before:.4f} ({', '.join(f'{e} {before[e]:.3f}' for e in seen)})"
    )
    if args.calibrate:
        s_un = float(np.mean([uncal[e] for e in seen]))
        print(
            f"calibration on the same {len(valid)} clips: seen mean AUC {s_un:.4f} uncalibrated -> {seen_before:.4f} "
            f"calibrated ({', '.join(f'{e} {uncal[e]:.3f}->{before[e]:.3f}' for e in seen)}); "
            f"'{target}' {uncal[target]:.3f} -> {before[target]:.3f}"
        )
    done = {k: rs for k, rs in results.items() if rs}
    if not done:
        print("no teacher had enough clips")
        return 1
    dev_mean = {k: float(np.nanmean([r[2] for r in rs])) for k, rs in done.items()}
    chosen = None if all(np.isnan(v) for v in dev_mean.values()) else max(done, key=lambda k: dev_mean[k])

    def label(k) -> str:
        return f"{k[0]}, l2 a={k[1]:g} v={k[2]:g}"

    order = sorted(done, key=lambda k: -dev_mean[k] if not np.isnan(dev_mean[k]) else 0.0)
    lib_l2 = adapt.checkpoint_l2(ck)  # what add-emotion uses with this checkpoint
    # a calibrated user's examples are re-centred when the checkpoint asks for it (livemer.teach.fit_from_windows)
    lib_method = "offset+recentre" if args.calibrate and adapt.checkpoint_recentres(ck) else "offset"
    default = (lib_method, lib_l2["acoustic"], lib_l2["visual"])
    extra = (default,) + tuple((m, *k[1:]) for m in args.methods for k in order[:1])
    shown = list(dict.fromkeys(order[: args.show] + [k for k in extra if k in done]))  # each row once
    print(
        f"\n{len(done)} configurations; the {len(shown)} shown: the best on dev, the library default, and each method at the best l2"
    )
    print(
        f"\n{'method, l2':36s} {'dev AUC':>7s} {'teachers':>8s} {'AUC 17-20 mean':>14s} {'sd':>6s} {'min':>6s} "
        f"{'max':>6s} {'>=0.80':>6s}"
    )
    for k in shown:
        rs = done[k]
        a = np.array([r[1] for r in rs])
        mark = "  <- chosen on dev" if k == chosen else ("  (library default)" if k == default else "")
        print(
            f"{label(k):36s} {dev_mean[k]:7.3f} {len(rs):8d} {a.mean():14.3f} {a.std():6.3f} "
            f"{a.min():6.3f} {a.max():6.3f} {int((a >= 0.8).sum()):3d}/{len(rs):<2d}{mark}"
        )
    report = [chosen] if chosen is not None else []
    if default in done and default != chosen:
        report.append(default)
    for k in report:
        rs = done[k]
        drops = []
        for _s, _, _, r in rs:
            pred.set_adaptation(target, r)
            after = evaluate()
            pred.clear_adaptation(target)
            drops.append(seen_before - float(np.mean([after[e] for e in seen])))
        a = np.array([r[1] for r in rs])
        what = "chosen on dev" if k == chosen else "library default"
        print(
            f"\n{what}: {label(k)}: '{target}' AUC on actors 17-20 {a.mean():.4f} +- {a.std():.4f} "
            f"(min {a.min():.3f}, max {a.max():.3f}); {int((a >= 0.8).sum())}/{len(a)} teachers >= 0.80; "
            f"seen mean AUC drop (through the Predictor) max {max(drops):.4f}"
        )
        print("   per teacher: " + ", ".join(f"{r[0]}:{r[1]:.2f}" for r in rs))
    print(
        f"features {t_feat:.1f} s; {n_fit} fits in {t_fit:.2f} s ({1000 * t_fit / max(1, n_fit):.0f} ms each, "
        f"incl. nothing else); total {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
