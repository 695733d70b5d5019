"""Fit the bundled chest-radiograph check (``cxr-chest-check``) on mask features, split by source.

Protocol (no figure in BENCHMARKS.md comes from a source the check was fitted on):

* positives for fitting: the **train** part of ``cxr_heart`` (JSRT + wingspan, 319 films) and
  every ``cxr_multisite/hannover`` film (243 films, one hospital); negatives for fitting: the
  pictures that :func:`generated_negatives` makes from seed 0 (plots, noise, drawings).
* held out for the benchmark: the ``cxr_heart`` val/test parts, all ``cxr_multisite/ieee8023``
  films (49 other hospitals), ``cxr_samples``, ``dicom/``; as negatives every file of
  ``negatives/``, scikit-image's images and the generated pictures of seeds 1 and 2 (seed 1 was
  looked at once: see ``benchmarks/_xray_gate.py``).
* ``--fold ieee8023`` fits on ieee8023 instead of hannover and saves to ``training/runs/`` (the
  reverse fold, for the false-refusal figure on hannover); the bundled check is the hannover fold.

Features are those of the pipeline itself: the seg network's probabilities on each image (the
bundled ``cxr-heart-seg`` unless ``--seg-model``) through
:func:`cardioclarity.xray.quality.mask_features`.

Usage::

    nice -n 10 python training/train_xray_gate.py --data-dir ../shared/data [--fold hannover]

``--seg-model CKPT`` fits a check for a candidate seg network (written to ``training/runs/``
unless ``--out`` says otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))

from _xray_negatives import FIT_PER_KIND, generated_negatives  # noqa: E402

from cardioclarity.errors import CardioClarityError  # noqa: E402
from cardioclarity.xray.datasets import load_mask_layout, load_split  # noqa: E402
from cardioclarity.xray.detect import HeartDetector  # noqa: E402
from cardioclarity.xray.gate import ChestCheck, chest_features  # noqa: E402
from cardioclarity.xray.io import read_xray  # noqa: E402
from cardioclarity.xray.quality import mask_features  # noqa: E402

SPLIT = HERE / "splits" / "cxr_heart_split.json"
WEIGHTS = HERE.parent / "src" / "cardioclarity" / "weights"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def image_features(det: HeartDetector, source: Path | bytes, name: str) -> np.ndarray | None:
    """The pipeline's chest-check input row of one image (None when the reader refuses it)."""
    try:
        img = read_xray(source, name=name)
    except CardioClarityError:
        return None
    probs = torch.sigmoid(det.predict_logits(img)).numpy()
    return chest_features(mask_features(probs), det.encoder_features())


def multisite_files(data_dir: Path, site: str) -> list[Path]:
    """Every film of one ``cxr_multisite`` source folder (sorted)."""
    return sorted(p for p in (data_dir / "cxr_multisite" / site).iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path,
                    default=Path(os.environ.get("CARDIOCLARITY_DATA_DIR", HERE.parent.parent / "shared" / "data")))
    ap.add_argument("--fold", choices=["hannover", "ieee8023"], default="hannover",
                    help="multisite source fitted on (the other one is held out)")
    ap.add_argument("--seg-model", default=None,
                    help="seg checkpoint whose activations the check reads (default: the bundled "
                         "cxr-heart-seg); a check fits only the seg model it was fitted with")
    ap.add_argument("--out", type=Path, help="checkpoint (default: bundled for hannover, runs/ otherwise)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        det = HeartDetector.load(args.seg_model, tta=False)
    except CardioClarityError as exc:
        raise SystemExit(f"--seg-model: {exc}") from None
    samples, _ = load_mask_layout(args.data_dir / "cxr_heart")
    train = load_split(SPLIT, samples)["train"]
    rows, labels = [], []
    for s in train:
        rows.append(image_features(det, s.image_path, s.name))
        labels.append(1)
    for f in multisite_files(args.data_dir, args.fold):
        rows.append(image_features(det, f, f.name))
        labels.append(1)
    for _, name, data in generated_negatives(0, per_kind=FIT_PER_KIND):
        rows.append(image_features(det, data, name))
        labels.append(0)
    keep = [i for i, r in enumerate(rows) if r is not None]
    X = np.array([rows[i] for i in keep])
    y = np.array([labels[i] for i in keep])
    check = ChestCheck(seg_model=det.card.get("created_utc")).fit(X, y)
    p = check.score_samples(X)
    fit_note = (f"fitted on {int(y.sum())} chest films (cxr_heart train part {len(train)}, "
                f"cxr_multisite/{args.fold} {int(y.sum()) - len(train)}) and {int((1 - y).sum())} "
                "generated non-chest pictures (seed 0)")
    print(fit_note)
    print(f"fit-set refusals: chest {(p[y == 1] < check.threshold).mean():.3f}, "
          f"non-chest accepted {(p[y == 0] >= check.threshold).mean():.3f}")
    bundled = args.fold == "hannover" and args.seg_model is None
    out = args.out or (WEIGHTS / "cxr-chest-check.pt" if bundled
                       else HERE / "runs" / f"chest-check-{args.fold}.pt")
    check.save(out, training_data=fit_note, fold=args.fold,
               metrics={"fit_chest_refused": float((p[y == 1] < check.threshold).mean()),
                        "fit_non_chest_accepted": float((p[y == 0] >= check.threshold).mean())})
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
