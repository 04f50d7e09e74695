"""Few-shot adaptation on RAVDESS: 8 examples of an emotion from ONE speaker, evaluated on OTHER speakers.

Usage: nice python benchmarks/fewshot_eval.py [--emotion calm] [--speakers 1-16] [--shots 8]
       [--per-emotion 16] [--l2 0.001 ...] [--calibrate] [--adapt acoustic,visual] [--pool]
       [--write-replay-checkpoint OUT.ckpt] [--checkpoint CKPT] [--shared ../shared]

README figures: ``--l2 0.001 0.01`` (no calibration), ``--calibrate --l2 0.001 0.01``,
``--calibrate --emotion sad --l2 0.001``, ``--calibrate --adapt acoustic`` / ``visual``,
``--calibrate --per-emotion 48`` / ``90``, ``--pool --l2 0.0001 0.001 0.01``. Deterministic: no seed to pick.

Protocol (what ``livemer add-emotion WORD --examples`` does, on RAVDESS):

* features: livemer's own acoustic extractor on the 16 kHz audio (the shared
  feature cache when it holds the clip, else extracted now) and the clip-level
  OpenFace action units through the live OpenFace -> Facet-35 adapter, cut into
  windows by the live aligner (``model.recipe_data.clip_windows``). No speech
  recognition: the text modality is absent, so every figure is acoustic + visual
  (RAVDESS's two sentences carry no emotion anyway);
* examples: ``--shots`` clips of the emotion from one speaker (strong intensity
  first), every 0.2 s window ending at least 1 s into the clip (file mode's hop);
* negatives: a replay set of the seen emotions, ``--per-emotion`` windows each,
  drawn from actors 1-16 except the speaker (what a checkpoint carries,
  ``model.adapt.attach_replay``); variant "+own neutral" adds the speaker's
  neutral clips (what a 10 s calibration gives);
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
from model.inference import Predictor, WindowBatch  # noqa: E402
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


def batch_of(windows) -> WindowBatch:
    arr = recipe_data.windows_to_arrays(windows)
    return WindowBatch(
        arr["text"],
        arr["acoustic"],
        arr["visual"],
        {m: arr[f"{m}_mask"] for m in ("text", "acoustic", "visual")},
        arr["modality_mask"],
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emotion", default="calm", help="the emotion taught (RAVDESS name: calm, or a seen one: sad ...)")
    ap.add_argument("--speakers", default="1-16", help="example speakers, e.g. 1-16 or 1,3,5")
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--per-emotion", type=int, default=16, help="replay windows per seen emotion")
    ap.add_argument("--l2", type=float, nargs="+", default=[adapt.DEFAULT_L2])
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

    def is_target(c) -> bool:
        return label_of(c) == target

    ex_clips = {
        s: recipe_data.select_clips([c for c in clips if c.actor == s and is_target(c)], args.shots) for s in speakers
    }
    own_neutral = {s: [c for c in clips if c.actor == s and c.emotion == "neutral"] for s in speakers}
    if args.pool:
        ex_clips = {0: [c for s in speakers for c in ex_clips[s]]}
        own_neutral = {0: [c for s in speakers for c in own_neutral[s]]}
        speakers = [0]
    pool = recipe_data.select_clips(
        [c for c in clips if c.actor not in VALID_ACTORS and c.emotion not in corpora.HELD_OUT and not is_target(c)], 2
    )
    valid = [c for c in clips if c.actor in VALID_ACTORS]
    calib = {c.actor: [] for c in clips}
    for c in clips:
        if c.emotion == "neutral" and c.statement == 1:
            calib[c.actor].append(c)
    if args.calibrate:  # the clips that calibrate a validation actor are not scored
        valid = [c for c in valid if c not in calib[c.actor]]
    need = sorted(
        {c.path for c in valid + pool}
        | {c.path for s in speakers for c in ex_clips[s] + own_neutral[s]}
        | {c.path for a in list(VALID_ACTORS) + speakers for c in calib.get(a, [])}
    )
    print(f"extracting acoustic features of {len(need)} clips (cache first) ...", file=sys.stderr, flush=True)
    audio = dict(zip(need, extract_clips(need, text=False)))
    rows = {c.path: recipe_data.ravdess_visual_rows(face, [c.face_key])[0] for c in clips if c.path in audio}
    t_feat = time.perf_counter() - t0

    def windows(c, ends):
        return recipe_data.clip_windows(audio[c.path], rows[c.path], ends, provider)

    def dense(c):
        dur = audio[c.path].duration
        ts = np.arange(MIN_END, dur + 1e-9, HOP)
        return windows(c, list(ts / dur) or [1.0])

    # evaluation windows (clip ends) and their labels
    valid.sort(key=lambda c: c.actor)
    vlab = [label_of(c) for c in valid]
    emos = seen + [target]
    y = {e: np.array([lab == e for lab in vlab], float) for e in emos}
    vbs = [batch_of([windows(c, [1.0])[0] for c in valid if c.actor == a]) for a in VALID_ACTORS]

    # calibration: the reference is the training actors' neutral windows
    ref_b = batch_of([w for c in pool if c.emotion == "neutral" for w in windows(c, (0.6, 0.8, 1.0))])
    ref = {m: calibration.observed_mean(getattr(ref_b, m), ref_b.step_masks[m]) for m in calibration.CALIBRATED}

    def shift_of(actor):
        if not args.calibrate:
            return None
        b = batch_of([w for c in calib[actor] for w in dense(c)])
        return calibration.baseline_shift({m: getattr(b, m) for m in calibration.CALIBRATED}, b.step_masks, ref)

    shifts = {a: shift_of(a) for a in VALID_ACTORS}

    def evaluate(calibrated: bool = True) -> dict[str, float]:
        parts = []
        for a, vb in zip(VALID_ACTORS, vbs):
            pred.set_calibration(shifts[a] if calibrated else None)
            parts.append(np.stack([p.probabilities for p in pred.predict_batch(vb, emos, "av")]))
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

    # the replay pool: seen emotions of the training actors, windows at 0.6/0.8/1.0 of each clip
    replay_words = [e for e in recipe_data.ravdess_names() if e in ck.emotion_words and e != target]
    pw, pl, pa = [], [], []
    for c in pool:
        for w in windows(c, (0.6, 0.8, 1.0)):
            pw.append(w)
            pl.append(replay_words.index(c.name) if c.name in replay_words else -1)
            pa.append(c.actor)
    pool_b = batch_of(pw)
    pool_ex = adapt.encode_batch(pred, pool_b, "av")
    pl, pa = np.asarray(pl), np.asarray(pa)

    results: dict[str, list] = {}
    for l2 in args.l2:
        for variant in ("replay", "replay+own neutral"):
            results[f"{variant}, l2={l2:g}"] = []
    t_fit = 0.0
    for s in speakers:
        if len(ex_clips[s]) < args.shots and not args.pool:
            print(f"speaker {s}: only {len(ex_clips[s])} {target} clips, skipped", file=sys.stderr)
            continue
        ws, groups = [], []
        for c in ex_clips[s]:
            d = dense(c)
            ws += d
            groups += [c.path.name] * len(d)
        pred.set_calibration(shift_of(s))
        pos = adapt.encode_batch(pred, batch_of(ws), "av", adapt.clip_weights(groups))
        # replay: per seen emotion, per_emotion windows from actors other than s
        keep = pa != s
        labels = np.zeros((len(pl), len(replay_words)))
        labels[np.arange(len(pl))[pl >= 0], pl[pl >= 0]] = 1
        idx = adapt.replay_indices(labels[keep], None, pool_ex.mask[keep], args.per_emotion, seed=0)
        sel = np.flatnonzero(keep)[idx]
        neg_replay = adapt.Examples({m: v[sel] for m, v in pool_ex.reps.items()}, pool_ex.mask[sel])
        nw, ng = [], []
        for c in own_neutral[s]:
            d = dense(c)
            nw += d
            ng += [c.path.name] * len(d)
        own = adapt.encode_batch(
            pred, batch_of(nw), "av", adapt.clip_weights(ng) * len(neg_replay) / max(1, len(own_neutral[s]))
        )
        pred.set_calibration(None)
        for l2 in args.l2:
            for variant, neg in (
                ("replay", neg_replay),
                ("replay+own neutral", adapt.Examples.concat([neg_replay, own])),
            ):
                t1 = time.perf_counter()
                fit = adapt.fit_adapter(pos, neg, init, pred.fusion_weights, l2=l2, modalities=args.adapt.split(","))
                t_fit += time.perf_counter() - t1
                pred.set_adaptation(target, fit.embeddings)
                after = evaluate()
                pred.clear_adaptation(target)
                results[f"{variant}, l2={l2:g}"].append(
                    (s, after[target], np.mean([after[e] for e in seen]), fit.positives, fit.negatives)
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
        f"adapted rows: {args.adapt}; checkpoint {ck.path} ({adapt.checkpoint_fingerprint(ck)}); replay {args.per_emotion} windows of each of "
        f"{', '.join(replay_words)}"
    )
    print(
        f"zero-shot '{target}' AUC {before[target]:.3f}; seen mean AUC {seen_before:.4f} "
        f"({', '.join(f'{e} {before[e]:.3f}' for e in seen)})"
    )
    if args.calibrate:
        s_un = float(np.mean([uncal[e] for e in seen]))
        print(
            f"calibration on the same {len(valid)} clips: seen mean AUC {s_un:.4f} uncalibrated -> {seen_before:.4f} "
            f"calibrated ({', '.join(f'{e} {uncal[e]:.3f}->{before[e]:.3f}' for e in seen)}); "
            f"zero-shot '{target}' {uncal[target]:.3f} -> {before[target]:.3f}"
        )
    print(
        f"{'negatives, l2':32s} {'speakers':>8s} {'new AUC mean':>12s} {'sd':>6s} {'min':>6s} {'max':>6s} "
        f"{'>=0.80':>6s} {'seen drop max':>13s}"
    )
    for k, rs in results.items():
        if not rs:
            continue
        a = np.array([r[1] for r in rs])
        drop = max(seen_before - r[2] for r in rs)
        print(
            f"{k:32s} {len(rs):8d} {a.mean():12.3f} {a.std():6.3f} {a.min():6.3f} {a.max():6.3f} "
            f"{int((a >= 0.8).sum()):3d}/{len(rs):<2d} {drop:13.4f}"
        )
        print("   per speaker: " + ", ".join(f"{r[0]}:{r[1]:.2f}" for r in rs))
    n_fits = sum(len(v) for v in results.values())
    print(
        f"features {t_feat:.1f} s; {n_fits} fits in {t_fit:.2f} s ({1000 * t_fit / max(1, n_fits):.0f} ms each, "
        f"incl. nothing else); total {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
