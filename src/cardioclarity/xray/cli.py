"""``cardioclarity xray train | evaluate | detect``: thin doors onto the X-ray pipeline."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from cardioclarity import DISCLAIMER
from cardioclarity.errors import (
    EX_DATAERR,
    EX_PARTIAL,
    EX_SOFTWARE,
    CardioClarityError,
    InputFileNotFoundError,
    InvalidInputError,
    exception_summary,
)

#: File name endings taken from a folder (files without an extension too: DICOMs often have none).
IMAGE_SUFFIXES = {".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ""}
#: summary.csv: the result's row (:meth:`HeartResult.summary_row`), then its quality verdict.
SUMMARY_COLUMNS = ["file", "x_min", "y_min", "x_max", "y_max", "ctr", "cardiomegaly", "status",
                   "quality_score", "reasons"]
#: Quality statuses whose CTR is not reported: the film counts as not processed (errors.csv).
NOT_MEASURED = ("refused", "withheld")


def _default_data_dir() -> Path:
    import os

    return Path(os.environ.get("CARDIOCLARITY_DATA_DIR", "../shared/data"))


def list_inputs(path: Path, recursive: bool = False) -> list[Path]:
    """Image files to process: ``path`` itself, or the images in folder ``path`` (sorted)."""
    if path.is_file():
        return [path]
    if not path.exists():
        raise InputFileNotFoundError(f"{path}: no such file or folder.",
                                     hint="give a DICOM/PNG/JPEG file or a folder of them.")
    it = path.rglob("*") if recursive else path.iterdir()
    files = sorted(p for p in it if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInputError(f"{path}: folder holds no .dcm/.png/.jpg (or extensionless) files.",
                                hint="point to the folder with the images, or use --recursive.")
    return files


def _unique_stems(files: list[Path], root: Path) -> dict[Path, str]:
    """Output stem per input; files whose stems collide (a.dcm, a.png) keep their extension."""
    stems: dict[str, list[Path]] = {}
    for f in files:
        rel = f.relative_to(root) if f != root and root.is_dir() else Path(f.name)
        stems.setdefault(str(rel.with_suffix("")).replace("/", "__"), []).append(f)
    out = {}
    for stem, fs in stems.items():
        for f in fs:
            out[f] = stem if len(fs) == 1 else f"{stem}_{f.suffix.lstrip('.') or 'noext'}"
    return out


#: Default torch threads per process: one. On a shared or busy machine torch's default (one per
#: core) ran 2-12x slower than one thread (BENCHMARKS.md, xray-threads); on an idle machine a
#: second thread gains little, since reading and measuring a film are single-threaded anyway.
DEFAULT_THREADS = 1


def set_threads(n: int) -> None:
    """Torch intra-op threads for this process (``0``: leave torch's default, one per core)."""
    if n < 0:
        raise InvalidInputError(f"--threads must be 0 or more, got {n}.",
                                hint="1 (the default) suits batches and shared machines.")
    if n:
        import torch

        torch.set_num_threads(n)


def _detect_one(f: Path, rel: str, stem: str, det, out: Path, overlay: bool,
                dicom_out: Path | None = None) -> dict:
    """Read, detect and write one film; returns its summary row (raises on any failure), with the
    quality verdict (``status``, ``quality_score``, ``reasons``). A film whose CTR is withheld or
    refused still gets its JSON and overlay (and its DICOM SR): they say why."""
    from cardioclarity.xray.io import read_xray
    from cardioclarity.xray.report import overlay_png

    img = read_xray(f)
    res = det.detect(img)
    doc = res.to_dict()
    doc["file"] = rel
    (out / f"{stem}.json").write_text(json.dumps(doc, indent=2))
    if overlay:
        (out / f"{stem}_overlay.png").write_bytes(overlay_png(img, res))
    for w in img.warnings:
        print(f"cardioclarity: warning: {rel}: {w}", file=sys.stderr)
    if dicom_out is not None:
        _write_dicom(f, rel, stem, img, res, dicom_out)
    q = res.quality
    return {**res.summary_row(rel), "status": q.get("status"), "quality_score": q.get("score"),
            "reasons": " ".join(q.get("reasons", []))}


def not_measured_message(rel: str, row: dict) -> str:
    """The errors.csv / stderr line of a film whose CTR is not reported (its summary row)."""
    reasons = ", ".join(row.get("reasons", "").split()) or "no reason recorded"
    what = ("not a frontal chest radiograph" if row.get("status") == "refused"
            else "the masks are implausible, CTR withheld")
    return f"{rel}: not measured: {what} ({reasons}); see its JSON and overlay."


def _write_dicom(f: Path, rel: str, stem: str, img, res, folder: Path) -> None:
    """DICOM SR/SEG/SC of a DICOM film into ``folder``; a PNG/JPEG gets a warning, no files."""
    from cardioclarity.errors import UnsupportedFormatError
    from cardioclarity.hospital import dicom_results

    try:
        results = dicom_results(f, img, res)
    except UnsupportedFormatError as exc:
        print(f"cardioclarity: warning: {rel}: no DICOM output: {exc}", file=sys.stderr)
        return
    results.save(folder, stem)
    for kind, why in results.skipped.items():
        print(f"cardioclarity: warning: {rel}: no DICOM {kind.upper()}: {why}", file=sys.stderr)


def _cmd_detect(args: argparse.Namespace) -> int:
    from cardioclarity.reporting import progress
    from cardioclarity.xray.detect import HeartDetector

    set_threads(args.threads)
    src = Path(args.input)
    files = list_inputs(src, args.recursive)
    det = HeartDetector.load(args.model, ctr_threshold=args.ctr_threshold)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stems = _unique_stems(files, src)
    rows, failures = [], []
    for f in progress(files, desc="xray detect", unit="img"):
        rel = str(f.relative_to(src)) if src.is_dir() else f.name
        try:
            row = _detect_one(f, rel, stems[f], det, out, not args.no_overlay,
                              Path(args.dicom_out) if args.dicom_out else None)
        except CardioClarityError as exc:
            failures.append((rel, str(exc), exc.exit_code))
        except Exception as exc:  # noqa: BLE001 - one file's bug must not end a batch of hundreds
            what = exception_summary(exc, 1000, mark_lines=False)
            failures.append((rel, f"{rel}: unexpected error ({what}); please report it.",
                             EX_SOFTWARE))
        else:
            rows.append(row)
            if row["status"] not in NOT_MEASURED:
                continue
            failures.append((rel, not_measured_message(rel, row), EX_DATAERR))
            print(f"cardioclarity: error: {failures[-1][1]}", file=sys.stderr)
            continue
        print(f"cardioclarity: error: {failures[-1][1]}", file=sys.stderr)
        rows.append({"file": rel, "status": "error"})
    with (out / "summary.csv").open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
        wr.writeheader()
        for r in rows:
            wr.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in SUMMARY_COLUMNS})
    if failures:
        with (out / "errors.csv").open("w", newline="") as fh:
            wr = csv.writer(fh)
            wr.writerow(["file", "error"])
            wr.writerows([(f, e) for f, e, _ in failures])
    n_ok = len(files) - len(failures)
    print(f"{n_ok}/{len(files)} image(s) measured -> {out / 'summary.csv'}"
          + (f"; {len(failures)} failed or not measured (see {out / 'errors.csv'})" if failures else ""))
    print(DISCLAIMER)
    if failures:
        # One file given: its own error code (65 bad data, 66 missing, 70 a bug); a batch: 1.
        return failures[0][2] if len(files) == 1 else EX_PARTIAL
    return 0


def _layout_root(data_dir: Path) -> Path:
    """``DATA/cxr_heart`` when present, else ``DATA`` itself (a folder in the mask layout)."""
    return data_dir / "cxr_heart" if (data_dir / "cxr_heart").is_dir() else data_dir


def _cmd_train(args: argparse.Namespace) -> int:
    from cardioclarity.xray.datasets import load_mask_layout, load_split, make_split
    from cardioclarity.xray.models import config_from_dict
    from cardioclarity.xray.train import TrainConfig, train_model

    # Check the network settings before reading any image: a bad --input-size fails in a second.
    model_cfg = config_from_dict(args.model, {"input_size": args.input_size} if args.input_size else None)
    root = _layout_root(args.data_dir)
    samples, qc = load_mask_layout(root, tuple(args.sets) if args.sets else None)
    print("label QC: " + qc.summary(), file=sys.stderr)
    out = Path(args.out)
    if args.split:
        parts = load_split(args.split, samples)
    else:
        split = make_split(samples, seed=args.seed)
        split_path = out.with_suffix(".split.json")
        split_path.parent.mkdir(parents=True, exist_ok=True)
        split_path.write_text(json.dumps({"seed": args.seed, **split}, indent=1))
        print(f"split saved to {split_path}", file=sys.stderr)
        parts = load_split(split_path, samples)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      patience=args.patience, max_minutes=args.minutes, seed=args.seed)
    _, info = train_model(args.model, parts["train"], parts["val"], model_cfg=model_cfg, cfg=cfg,
                          out=out, metadata={"training_data": f"{root} (train part)", "qc": qc.to_dict()},
                          log=lambda m: print(m, file=sys.stderr))
    print(f"best validation {'heart Dice' if args.model == 'seg' else 'box IoU'} "
          f"{info['best_val']:.4f} at epoch {info['best_epoch']} ({info['stopped']}); saved {out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from cardioclarity.reporting import Section, write_html_report
    from cardioclarity.xray.datasets import load_mask_layout, load_split
    from cardioclarity.xray.detect import HeartDetector
    from cardioclarity.xray.evaluate import evaluate_detector

    set_threads(args.threads)
    root = _layout_root(args.data_dir)
    samples, qc = load_mask_layout(root, tuple(args.sets) if args.sets else None)
    print("label QC: " + qc.summary(), file=sys.stderr)
    if args.split:
        parts = load_split(args.split, samples)
        if args.part not in parts:
            raise InvalidInputError(f"split has no part '{args.part}'.", hint=f"valid: {sorted(parts)}.")
        samples = parts[args.part]
    else:
        print("note: no --split given, evaluating every image; figures on images a model was "
              "trained on are optimistic.", file=sys.stderr)
    det = HeartDetector.load(args.model, ctr_threshold=args.ctr_threshold)
    res = evaluate_detector(det, samples)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {k: v for k, v in res.items() if k != "rows"}
    doc = {"model": det.model_field(), "n_images": len(samples), "part": args.part if args.split else "all",
           "metrics": metrics, "disclaimer": DISCLAIMER}
    (out / "metrics.json").write_text(json.dumps(doc, indent=2, default=str))
    with (out / "per_image.csv").open("w", newline="") as fh:
        # Union of the rows' keys: a refused film has no Dice columns.
        wr = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in res["rows"] for k in r)))
        wr.writeheader()
        wr.writerows(res["rows"])
    sections = [Section(f"{k} ({v['n']} images)", table=[
        {"metric": m, "value": x} for m, x in v.items() if not isinstance(x, dict | list)])
        for k, v in metrics.items()]
    images = _evaluation_figures(res["rows"])
    if images:
        sections.append(Section("Agreement", images=images))
    write_html_report(out / "report.html", "Chest X-ray heart detection: evaluation", sections,
                      meta={"model": det.card["name"], "images": len(samples)})
    p = metrics["pooled"]
    line = f"{len(samples)} images: box IoU {p['box_iou']:.3f}, F1@0.75 {p['f1@75']:.3f}"
    if "ctr_mae_vs_masks" in p:
        line += f", CTR MAE {p['ctr_mae_vs_masks']:.4f}, heart Dice {p.get('dice_heart', float('nan')):.3f}"
    print(line + f" -> {out / 'report.html'}")
    return 0


def _evaluation_figures(rows: list[dict]) -> list[tuple[str, bytes]]:
    """Bland-Altman plots of predicted vs reference CTR (empty for the box model)."""
    from cardioclarity.xray.report import bland_altman_png

    figs = []
    for ref in ("mask_ctr", "expert_ctr"):
        pairs = [(r["pred_ctr"], r[ref]) for r in rows if r["pred_ctr"] is not None and r[ref] is not None]
        if len(pairs) >= 2:
            pred, truth = zip(*pairs, strict=True)
            label = "expert CTR" if ref == "expert_ctr" else "CTR from reference masks"
            figs.append((f"Bland-Altman: predicted CTR vs {label}", bland_altman_png(pred, truth, label)))
    return figs


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``xray`` command group."""
    # Long but flat: one add_argument per option, each command's options read in one place.
    p = sub.add_parser("xray", help="chest X-ray heart detection: heart box, CTR, cardiomegaly",
                       description="Chest X-ray heart detection (DICOM/PNG/JPEG): heart box, "
                       "cardiothoracic ratio, cardiomegaly flag. " + DISCLAIMER)
    p.set_defaults(_parser=p)
    s = p.add_subparsers(dest="xray_command", metavar="COMMAND")

    d = s.add_parser("detect", help="detect the heart, measure the CTR (file or folder)",
                     description="Writes OUT/<stem>.json (image_size, heart_box, ctr, cardiomegaly, "
                     "pixel_spacing_mm, view_position, quality, model, disclaimer), "
                     "OUT/<stem>_overlay.png and OUT/summary.csv "
                     "(file,x_min,y_min,x_max,y_max,ctr,cardiomegaly,status,quality_score,reasons; "
                     "coordinates in input pixels). A film that is not a frontal chest radiograph "
                     "(status refused) or whose masks are implausible (withheld) gets no CTR and a "
                     "row in OUT/errors.csv saying why; a bad file is reported and skipped. Exit 65 "
                     "for a single such file, 1 for a folder with any.")
    d.add_argument("input", help="a DICOM/PNG/JPEG file or a folder of them")
    d.add_argument("--out", required=True, help="output folder")
    d.add_argument("--model", default=None,
                   help="bundled name (cxr-heart-seg [default], cxr-heart-box, or seg/box) or checkpoint path")
    d.add_argument("--ctr-threshold", type=float, default=0.5,
                   help="cardiomegaly cut-off on the CTR (default: %(default)s, PA films)")
    d.add_argument("--no-overlay", action="store_true", help="skip the overlay PNGs (faster)")
    d.add_argument("--dicom-out", metavar="DIR",
                   help="also write DIR/<stem>_{sr,seg,sc}.dcm for DICOM inputs: TID 1500 SR, "
                   "heart/lung SEG and overlay Secondary Capture, in the source's study")
    d.add_argument("--recursive", action="store_true", help="also look in sub-folders")
    _threads_option(d)
    d.set_defaults(func=_cmd_detect)

    t = s.add_parser("train", help="train a seg or box model on a mask-layout dataset",
                     description="Train on <data-dir>/cxr_heart (or any folder in that layout: "
                     "<set>/png, <set>/mask/{heart,left_lung,right_lung}). Seeded; early stopping "
                     "on the validation part; saves a self-describing checkpoint.")
    t.add_argument("--data-dir", type=Path, default=_default_data_dir(),
                   help="folder holding cxr_heart/ (or the layout itself; default: $CARDIOCLARITY_DATA_DIR or ../shared/data)")
    t.add_argument("--model", choices=["seg", "box"], default="seg",
                   help="seg: heart + lung masks, gives the CTR; box: heart box only "
                   "(default: %(default)s)")
    t.add_argument("--out", required=True, help="checkpoint path to write (.pt)")
    t.add_argument("--split", type=Path, help="split JSON (default: a new seeded 70/15/15 split saved beside --out)")
    t.add_argument("--sets", nargs="+", help="only these sets (e.g. jsrt)")
    t.add_argument("--epochs", type=int, default=60,
                   help="most training epochs; early stopping may end sooner (default: %(default)s)")
    t.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget (default: %(default)s)")
    t.add_argument("--batch-size", type=int, default=8, help="images per step (default: %(default)s)")
    t.add_argument("--lr", type=float, default=3e-3, help="learning rate (default: %(default)s)")
    t.add_argument("--patience", type=int, default=10,
                   help="stop after this many epochs without a better validation score "
                   "(default: %(default)s)")
    t.add_argument("--input-size", type=int, help="network input size (default: the model's, 320 seg / 224 box)")
    t.add_argument("--seed", type=int, default=0,
                   help="seed of the split and of training (default: %(default)s)")
    t.set_defaults(func=_cmd_train)

    e = s.add_parser("evaluate", help="evaluate a model on labelled films (box IoU, Dice, CTR, cardiomegaly)",
                     description="Writes OUT/metrics.json, OUT/per_image.csv and OUT/report.html "
                     "(Bland-Altman plots).")
    e.add_argument("--data-dir", type=Path, default=_default_data_dir(),
                   help="folder holding cxr_heart/ (or a folder in that layout; default: "
                   "$CARDIOCLARITY_DATA_DIR or ../shared/data)")
    e.add_argument("--model", default=None, help="bundled name or checkpoint path (default: cxr-heart-seg)")
    e.add_argument("--split", type=Path, help="split JSON; evaluate only its --part")
    e.add_argument("--part", default="test", help="split part (default: %(default)s)")
    e.add_argument("--sets", nargs="+", help="only these sets")
    e.add_argument("--ctr-threshold", type=float, default=0.5,
                   help="cardiomegaly cut-off on the CTR (default: %(default)s, PA films)")
    e.add_argument("--out", required=True, help="output folder")
    _threads_option(e)
    e.set_defaults(func=_cmd_evaluate)


def _threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                   help="torch threads for this process (default: %(default)s, fastest for batches "
                   "and on shared machines; 0 = torch's default, one per core; to use more cores "
                   "run several processes on parts of the folder)")
