"""Train the bundled chest X-ray models on cxr_heart (seeded, CPU).

Protocol:

1. Load ``cxr_heart`` (JSRT + wingspan) through :func:`cardioclarity.xray.datasets.load_mask_layout`,
   with its label quality check (the swapped heart/left-lung file is skipped, specks removed).
2. Split 70/15/15 by image, stratified by set, seed 0 — once; saved to
   ``training/splits/cxr_heart_split.json`` and reused (benchmarks read the same file).
3. Train ``seg`` (U-Net, heart + lungs, 320 px) and ``box`` (the reference box regressor, 224 px) on
   train, early stopping on val; the test part is never looked at here. ``--recipe domain`` (the
   default) adds the domain-randomising augmentation (:class:`cardioclarity.xray.train.RandDomainRandomised`).
   ``--pseudo FILE.npz`` appends pseudo-labelled films (made by ``training/pseudo_label_xray.py``)
   to the seg training set, each weighing ``--pseudo-weight`` in the loss, their uncertain pixels
   left out of it.
4. Cross-site runs with the bundled seg recipe (320 px, 60 epochs, same augmentation; no
   pseudo-labels, which would carry the other site's films in): seg trained on JSRT's train part only
   (its val part for early stopping) → tested on the other site, and the reverse; checkpoints go
   to ``training/runs/``. ``--cross-pair jsrt`` or ``wingspan`` runs one direction (two processes
   can then share the CPU).

Usage::

    nice -n 10 python training/train_xray.py --data-dir ../shared/data --which seg box cross
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cardioclarity.xray.datasets import load_mask_layout, load_split, make_split
from cardioclarity.xray.train import TrainConfig, load_arrays, train_model

HERE = Path(__file__).resolve().parent
SPLIT = HERE / "splits" / "cxr_heart_split.json"
WEIGHTS = HERE.parent / "src" / "cardioclarity" / "weights"


def log(msg: str) -> None:
    print(msg, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path,
                    default=Path(os.environ.get("CARDIOCLARITY_DATA_DIR", HERE.parent.parent / "shared" / "data")))
    ap.add_argument("--which", nargs="+", default=["seg", "box", "cross"], choices=["seg", "box", "cross"])
    ap.add_argument("--seg-minutes", type=float, default=40.0)
    ap.add_argument("--seg-size", type=int, default=320,
                    help="seg network input size in pixels (bundled: 320, chosen over 256 and 384 on the val part)")
    ap.add_argument("--seg-epochs", type=int, default=60)
    ap.add_argument("--seg-channels", type=int, nargs="+", default=None,
                    help="U-Net channels per level (default: the SegConfig default, 16 32 64 128 256)")
    ap.add_argument("--seg-res-units", type=int, default=None,
                    help="residual units per U-Net level (default: the SegConfig default, 1)")
    ap.add_argument("--seg-out", type=Path, default=WEIGHTS / "cxr-heart-seg.pt",
                    help="where to write the seg checkpoint (default: the bundled one)")
    ap.add_argument("--recipe", choices=["basic", "domain"], default="domain",
                    help="augmentation recipe of every run (domain: + domain randomisation)")
    ap.add_argument("--pseudo", type=Path, default=None,
                    help="npz of pseudo-labelled films (training/pseudo_label_xray.py) added to the seg run")
    ap.add_argument("--pseudo-weight", type=float, default=0.5,
                    help="loss weight of a pseudo-labelled film (an expert-labelled one weighs 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (cuda when available)")
    ap.add_argument("--workers", type=int, default=0,
                    help="DataLoader processes augmenting the batches (0 = in the training process); "
                         "the batches are the same for any number")
    ap.add_argument("--init", default=None,
                    help="start the seg run from this checkpoint's weights (fine-tuning), e.g. cxr-heart-seg")
    ap.add_argument("--seg-lr", type=float, default=3e-3)
    ap.add_argument("--seg-patience", type=int, default=12,
                    help="epochs without a better val heart Dice before a seg run stops")
    ap.add_argument("--box-minutes", type=float, default=20.0)
    ap.add_argument("--cross-minutes", type=float, default=40.0)
    ap.add_argument("--cross-pair", choices=["jsrt", "wingspan", "both"], default="both",
                    help="training site of the cross-site run(s)")
    ap.add_argument("--runs-dir", type=Path, default=HERE / "runs")
    args = ap.parse_args(argv)
    if args.seg_channels is not None and len(args.seg_channels) < 2:
        ap.error(f"--seg-channels needs two or more levels (e.g. 16 32 64 128 256), got {args.seg_channels}.")
    if args.workers < 0:
        ap.error(f"--workers must be 0 (augment in the training process) or more, got {args.workers}.")

    root = args.data_dir / "cxr_heart"
    samples, qc = load_mask_layout(root)
    log("QC: " + qc.summary())
    for s in qc.skipped:
        log(f"  skipped {s['set']}/{s['name']}: {s['reason']}")
    if not SPLIT.exists():
        split = make_split(samples, (0.7, 0.15, 0.15), seed=0)
        SPLIT.parent.mkdir(parents=True, exist_ok=True)
        SPLIT.write_text(json.dumps({"seed": 0, "fractions": [0.7, 0.15, 0.15], "stratified_by": "set",
                                     "qc_skipped": qc.skipped, **split}, indent=1))
        log(f"wrote split {SPLIT}")
    parts = load_split(SPLIT, samples)
    log(f"split: train {len(parts['train'])}, val {len(parts['val'])}, test {len(parts['test'])}")
    data_note = {"training_data": "cxr_heart (JSRT 247 + wingspan 209 PA films, Dong et al. 2018), "
                                  "70/15/15 split seed 0 stratified by set; trained on the train part, "
                                  "early stopping on val",
                 "split_file": "training/splits/cxr_heart_split.json", "qc": qc.to_dict()}

    def seg_cfg(minutes: float, lr: float = 3e-3) -> TrainConfig:
        return TrainConfig(epochs=args.seg_epochs, batch_size=8, lr=lr, patience=args.seg_patience,
                           max_minutes=minutes, recipe=args.recipe, threads=args.threads, device=args.device,
                           workers=args.workers)

    seg_net = {"input_size": args.seg_size}
    if args.seg_channels is not None:
        seg_net["channels"] = args.seg_channels
        seg_net["strides"] = [2] * (len(args.seg_channels) - 1)
    if args.seg_res_units is not None:
        seg_net["num_res_units"] = args.seg_res_units

    if "seg" in args.which:
        arrays = None
        note = dict(data_note, augmentation=args.recipe)
        if args.pseudo is not None:
            arrays, pnote = pseudo_arrays(parts, args.pseudo, args.seg_size, args.pseudo_weight)
            note.update(pnote)
        train_model("seg", parts["train"], parts["val"], model_cfg=seg_net,
                    cfg=seg_cfg(args.seg_minutes, args.seg_lr), out=args.seg_out, metadata=note, log=log,
                    arrays=arrays, init=args.init)
    if "box" in args.which:
        cfg = TrainConfig(epochs=60, batch_size=8, lr=2e-3, patience=10, max_minutes=args.box_minutes,
                          recipe=args.recipe, threads=args.threads, device=args.device, workers=args.workers)
        train_model("box", parts["train"], parts["val"], cfg=cfg, out=WEIGHTS / "cxr-heart-box.pt",
                    metadata=data_note, log=log)
    if "cross" in args.which:
        for src, dst in (("jsrt", "wingspan"), ("wingspan", "jsrt")):
            if args.cross_pair not in (src, "both"):
                continue
            tr = [s for s in parts["train"] if s.set == src]
            va = [s for s in parts["val"] if s.set == src]
            # The bundled recipe (size, epochs, augmentation); each model's in-site reference is its
            # own site's test part, so the pair is like for like.
            note = dict(data_note, augmentation=args.recipe,
                        training_data=f"cxr_heart/{src} only (train part; val part for early stopping); "
                                      f"cross-site test on {dst}; budget {args.cross_minutes:g} min")
            train_model("seg", tr, va, model_cfg=seg_net, cfg=seg_cfg(args.cross_minutes),
                        out=args.runs_dir / f"cross-{src}-to-{dst}.pt", metadata=note, log=log)
    return 0


def pseudo_arrays(parts: dict, path: Path, size: int, weight: float) -> tuple[dict, dict]:
    """Train arrays = expert-labelled train part + the pseudo-labelled films of ``path``.

    Expert films weigh 1 in the loss and have no ignored pixels; pseudo-labelled ones weigh
    ``weight`` and keep their ignore maps (pixels where the augmented predictions disagreed).
    """
    import numpy as np

    p = np.load(path, allow_pickle=False)
    if p["images"].shape[-1] != size:
        raise SystemExit(f"{path} holds {p['images'].shape[-1]}-px films, the run is at {size} px: "
                         "rerun training/pseudo_label_xray.py with --size.")
    imgs, masks = load_arrays(parts["train"], size, "loading train")
    n_exp, n_ps = len(imgs), len(p["images"])
    arrays = {"train": (np.concatenate([imgs, p["images"]]), np.concatenate([masks, p["masks"]])),
              "val": load_arrays(parts["val"], size, "loading val"),
              "train_weight": np.concatenate([np.ones(n_exp, np.float32), np.full(n_ps, weight, np.float32)]),
              "train_ignore": np.concatenate([np.zeros((n_exp, 1, size, size), np.uint8), p["ignore"]])}
    meta = json.loads(str(p["meta"]))
    log(f"pseudo-labels: {n_ps} films from {path} (weight {weight:g}), {n_exp} expert-labelled films")
    return arrays, {"pseudo_labels": {**meta, "n_films": n_ps, "loss_weight": weight, "file": path.name}}


if __name__ == "__main__":
    sys.exit(main())
