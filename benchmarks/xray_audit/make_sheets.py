"""Blind visual audit of heart/lung overlays on ``cxr_multisite``: sheets, key, and the score.

1. ``python benchmarks/xray_audit/make_sheets.py sheets`` draws a seeded random sample of films
   (``--seed``, default 12; ``--n``, default 100) twice: with the ``old`` pipeline (the masks as
   the network gives them, largest region of each; or the full pipeline of ``--old-model``) and
   with this build's pipeline (``new``, or ``--new-model``). Each film's two overlays are put side
   by side as ``A`` and ``B`` in a random, seeded order, without verdict banners or model names,
   four films per sheet, into ``<audit-dir>/out/`` (not committed: the films' licences forbid
   it). ``<audit-dir>/key.csv`` says which of A/B is which and what the new pipeline's quality
   verdict was; ``<audit-dir>/sample.json`` how the sample was drawn; ``<audit-dir>/verdicts.csv``
   is written as an empty template (one row per film) unless it exists.
2. A person judges every overlay by ``CRITERIA.md`` *before opening key.csv* and fills in
   ``verdicts.csv`` (``id,A,B,note`` with ``accept``/``reject``).
3. ``python benchmarks/xray_audit/make_sheets.py status`` re-runs the new pipeline's quality
   verdict on the same films into key.csv (after a change of the checks; the overlays, and so the
   judged verdicts, do not depend on them).
4. ``python benchmarks/xray_audit/make_sheets.py score`` joins verdicts and key: acceptance rate
   of old and new, and the share of rejected new overlays whose CTR the quality gate withheld.

A fresh sample for a held-out audit goes into its own folder, so the judged seed-12 sample stays::

    python benchmarks/xray_audit/make_sheets.py sheets --seed 31 --audit-dir benchmarks/xray_audit/seed-31 \
        --site ieee8023 --exclude training/runs/pseudo-hannover.csv --old-model OLD.pt

``--site`` keeps one sub-site (the first folder of the manifest's path: ``ieee8023``,
``hannover``); ``--exclude`` drops every film listed in the given CSVs (a ``file`` column, paths
relative to ``cxr_multisite``, e.g. the pseudo-label log of ``training/pseudo_label_xray.py``) or
text files (one path a line). ``sheets`` refuses to overwrite a folder whose ``verdicts.csv``
already holds verdicts.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import default_data_dir, md_table, write_section  # noqa: E402

PANEL = 400
PER_SHEET = 4


def read_film_lists(paths: list[Path]) -> set[str]:
    """Film paths (relative to ``cxr_multisite``) listed in CSVs with a ``file`` column (an
    audit's key.csv, a pseudo-label log) or in text files with one path a line.

    A CSV with a ``kept`` column (the pseudo-label log lists every film it looked at) gives only
    the rows kept (``True``): the films whose pseudo-labels went into training.
    """
    out: set[str] = set()
    for path in paths:
        if not Path(path).is_file():
            raise SystemExit(f"{path}: no such file (--exclude/--only take CSVs with a 'file' column "
                             "or text files with one film path a line).")
        text = Path(path).read_text()
        first = text.splitlines()[0] if text.strip() else ""
        if "," in first or first.strip() == "file":
            rows = csv.DictReader(io.StringIO(text))
            if "file" not in (rows.fieldnames or []):
                raise SystemExit(f"{path}: a CSV for --exclude/--only needs a 'file' column, got {rows.fieldnames}.")
            out |= {r["file"].strip() for r in rows
                    if r["file"].strip() and r.get("kept", "True").strip() == "True"}
        else:
            out |= {line.strip() for line in text.splitlines() if line.strip()}
    return out


def sample_films(data_dir: Path, n: int, seed: int, *, site: str | None = None,
                 exclude: set[str] | None = None, only: set[str] | None = None) -> list[str]:
    """``n`` files of the manifest, drawn with ``random.Random(seed)`` from those of ``site`` (the
    path's first folder; None: every site) that are not in ``exclude`` (and are in ``only``,
    when given: e.g. the films of an earlier audit, judged again with other models).

    With no site and nothing excluded, the draw is the one the seed-12 sample was made with.
    """
    with (data_dir / "cxr_multisite" / "manifest.csv").open() as fh:
        files = sorted(r["file"] for r in csv.DictReader(fh))
    sites = sorted({f.split("/")[0] for f in files})
    if site is not None and site not in sites:
        raise SystemExit(f"--site {site!r} is not a sub-site of cxr_multisite; valid options: {sites}.")
    pool = [f for f in files if (site is None or f.split("/")[0] == site) and f not in (exclude or set())
            and (only is None or f in only)]
    if n > len(pool):
        raise SystemExit(f"--n {n} is more than the {len(pool)} films left after --site/--exclude.")
    return random.Random(seed).sample(pool, n)


def _panel(png: bytes, label: str):
    from PIL import Image, ImageDraw

    im = Image.open(io.BytesIO(png)).convert("RGB")
    im.thumbnail((PANEL, PANEL))
    canvas = Image.new("RGB", (PANEL, PANEL + 24), (40, 40, 40))
    canvas.paste(im, ((PANEL - im.width) // 2, 24))
    ImageDraw.Draw(canvas).text((6, 4), label, fill=(255, 255, 255))
    return canvas


def _new_detector(new_model: str | None, new_check: str | None):
    """The ``new`` side: the bundled pipeline, or ``new_model`` with its own chest check
    ``new_check`` (a check reads one seg network's activations, so a candidate network needs
    the check fitted on it: ``training/train_xray_gate.py --seg-model``)."""
    from cardioclarity.xray.detect import HeartDetector
    from cardioclarity.xray.gate import ChestCheck

    return HeartDetector.load(new_model, chest_check=ChestCheck.load(new_check) if new_check else None)


def _detectors(old_model: str | None, new_model: str | None, new_check: str | None = None):
    from cardioclarity.xray.detect import HeartDetector

    old = (HeartDetector.load(old_model) if old_model
           else HeartDetector.load(constrain=False, tta=False))
    return old, _new_detector(new_model, new_check)


def make_sheets(data_dir: Path, n: int, seed: int, audit_dir: Path, *, site: str | None = None,
                exclude: list[Path] | None = None, only: list[Path] | None = None,
                old_model: str | None = None, new_model: str | None = None,
                new_check: str | None = None) -> None:
    import torch
    from PIL import Image

    from cardioclarity.xray.io import read_xray
    from cardioclarity.xray.report import overlay_png

    verdicts = audit_dir / "verdicts.csv"
    if verdicts.exists() and any(r.get("A") for r in csv.DictReader(verdicts.open())):
        raise SystemExit(f"{verdicts} already holds verdicts: draw a fresh sample into another "
                         "--audit-dir (e.g. benchmarks/xray_audit/seed-<seed>).")
    torch.set_num_threads(1)
    old, new = _detectors(old_model, new_model, new_check)
    excluded = read_film_lists(exclude or [])
    films = sample_films(data_dir, n, seed, site=site, exclude=excluded,
                         only=read_film_lists(only) if only else None)
    rng = random.Random(seed + 1)
    out_dir = audit_dir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    key_rows, panels = [], []
    for i, f in enumerate(films, 1):
        img = read_xray(data_dir / "cxr_multisite" / f)
        r_old, r_new = old.detect(img), new.detect(img)
        pngs = {"old": overlay_png(img, r_old, annotate=False), "new": overlay_png(img, r_new, annotate=False)}
        order = ["old", "new"] if rng.random() < 0.5 else ["new", "old"]
        fid = f"{i:03d}"
        q = r_new.quality
        key_rows.append({"id": fid, "file": f, "A": order[0], "B": order[1], "new_status": q["status"],
                         "new_score": q["score"], "new_reasons": " ".join(q["reasons"])})
        panels.append([_panel(pngs[order[0]], f"{fid} A"), _panel(pngs[order[1]], f"{fid} B")])
    for s in range(0, len(panels), PER_SHEET):
        rows = panels[s:s + PER_SHEET]
        sheet = Image.new("RGB", (2 * PANEL, len(rows) * (PANEL + 24)), (0, 0, 0))
        for r, (a, b) in enumerate(rows):
            sheet.paste(a, (0, r * (PANEL + 24)))
            sheet.paste(b, (PANEL, r * (PANEL + 24)))
        sheet.save(out_dir / f"sheet_{s // PER_SHEET + 1:02d}.png")
    key = audit_dir / "key.csv"
    with key.open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(key_rows[0]))
        wr.writeheader()
        wr.writerows(key_rows)
    with verdicts.open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=["id", "A", "B", "note"])
        wr.writeheader()
        wr.writerows({"id": r["id"], "A": "", "B": "", "note": ""} for r in key_rows)
    meta = {"seed": seed, "n": n, "site": site, "excluded_lists": [str(p) for p in exclude or []],
            "n_excluded": len(excluded), "only_lists": [str(p) for p in only or []],
            "old": old_model or "network masks (largest region of each)",
            "new": new_model or "bundled pipeline", "new_check": new_check}
    (audit_dir / "sample.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{len(films)} films -> {out_dir} ({(len(panels) + PER_SHEET - 1) // PER_SHEET} sheets), "
          f"key {key}, verdicts template {verdicts}")


def restatus(data_dir: Path, audit_dir: Path, new_model: str | None = None,
             old_model: str | None = None, new_check: str | None = None) -> None:
    """Recompute ``new_status``/``new_score``/``new_reasons`` of key.csv with this build, and
    ``old_status``/``old_score``/``old_reasons`` with ``old_model`` when one is given (the quality
    verdict of the old side's full pipeline, so that its flagged share can be scored too)."""
    import torch

    from cardioclarity.xray.detect import HeartDetector
    from cardioclarity.xray.io import read_xray

    torch.set_num_threads(1)
    sides = {"new": _new_detector(new_model, new_check)}
    if old_model:
        sides["old"] = HeartDetector.load(old_model)
    key = audit_dir / "key.csv"
    rows = list(csv.DictReader(key.open()))
    for r in rows:
        img = read_xray(data_dir / "cxr_multisite" / r["file"])
        for side, det in sides.items():
            q = det.detect(img).quality
            r.update({f"{side}_status": q["status"], f"{side}_score": q["score"],
                      f"{side}_reasons": " ".join(q["reasons"])})
    with key.open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    print(f"{len(rows)} films' quality verdicts ({', '.join(sides)}) recomputed -> {key}")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (as BENCHMARKS.md shows it)."""
    p, repo = path.resolve(), HERE.parent.parent
    return str(p.relative_to(repo)) if p.is_relative_to(repo) else str(path)


def read_key(audit_dir: Path) -> dict[str, dict]:
    """``key.csv`` of an audit folder by film id."""
    return {r["id"]: r for r in csv.DictReader((audit_dir / "key.csv").open())}


def accepted_by_side(audit_dir: Path, key: dict[str, dict] | None = None) -> dict[str, dict[str, bool]]:
    """The judged verdicts unblinded: ``{"old": {id: accepted}, "new": {id: accepted}}`` for
    every film of ``verdicts.csv`` that has been judged (``key``: :func:`read_key`)."""
    key = key if key is not None else read_key(audit_dir)
    res: dict[str, dict[str, bool]] = {"old": {}, "new": {}}
    for v in csv.DictReader((audit_dir / "verdicts.csv").open()):
        if not v["A"].strip():
            continue
        for side in ("A", "B"):
            res[key[v["id"]][side]][v["id"]] = v[side].strip().lower() == "accept"
    return res


def score(audit_dir: Path = HERE) -> dict:
    """Acceptance of old and new overlays, and how many rejected ones the quality gate flagged.

    Flagged shares are given for each side whose quality verdicts key.csv holds (``new_status``
    always; ``old_status`` after ``status --old-model``).
    """
    key = read_key(audit_dir)
    res = accepted_by_side(audit_dir, key)
    if not res["new"]:
        raise SystemExit(f"{audit_dir / 'verdicts.csv'} holds no verdicts yet: judge the sheets first.")
    out: dict = {"n": len(res["new"]), "accept_old": sum(res["old"].values()),
                 "accept_new": sum(res["new"].values()),
                 "only_old": sum(res["old"][f] and not res["new"][f] for f in res["new"]),
                 "only_new": sum(res["new"][f] and not res["old"][f] for f in res["new"])}
    for side, ok in res.items():
        col = f"{side}_status"
        if not all(key[f].get(col) for f in ok):
            continue

        def withheld(fid: str, col: str = col) -> bool:
            return key[fid][col] in ("withheld", "refused")

        rejected = [f for f, a in ok.items() if not a]
        accepted = [f for f, a in ok.items() if a]
        measured = [f for f in ok if not withheld(f)]
        out[side] = {"rejected": len(rejected), "accepted": len(accepted),
                     "rejected_withheld": sum(withheld(f) for f in rejected),
                     "rejected_not_ok": sum(key[f][col] != "measured" for f in rejected),
                     "accepted_withheld": sum(withheld(f) for f in accepted),
                     "reported_ctr": len(measured),
                     "reported_ctr_accepted": sum(ok[f] for f in measured)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["sheets", "status", "score"])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=12, help="seed of the sample (sheets)")
    ap.add_argument("--audit-dir", type=Path, default=HERE,
                    help="folder of key.csv, verdicts.csv, sample.json and out/ (default: the seed-12 audit)")
    ap.add_argument("--site", default=None, help="sheets: draw from this sub-site only (ieee8023, hannover)")
    ap.add_argument("--exclude", type=Path, nargs="*", default=[],
                    help="sheets: CSVs (a 'file' column) or text files listing films to leave out "
                         "(films used in training or pseudo-labels)")
    ap.add_argument("--old-model", default=None,
                    help="sheets: checkpoint for the 'old' side, run through the full pipeline "
                         "(default: the bundled network's unconstrained masks)")
    ap.add_argument("--only", type=Path, nargs="*", default=[],
                    help="sheets: draw only from the films listed in these CSVs or text files "
                         "(e.g. an earlier audit's key.csv, to judge its films again)")
    ap.add_argument("--new-model", default=None, help="sheets/status: checkpoint for the 'new' side")
    ap.add_argument("--new-check", default=None,
                    help="sheets/status: chest-check checkpoint fitted on --new-model's network")
    ap.add_argument("--no-write", action="store_true", help="score: print only; leave BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    if args.step == "sheets":
        make_sheets(args.data_dir, args.n, args.seed, args.audit_dir, site=args.site, exclude=args.exclude,
                    only=args.only, old_model=args.old_model, new_model=args.new_model,
                    new_check=args.new_check)
    elif args.step == "status":
        restatus(args.data_dir, args.audit_dir, args.new_model, args.old_model, args.new_check)
    else:
        s = score(args.audit_dir)
        n = s["n"]
        meta_path = args.audit_dir / "sample.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"seed": 12, "site": None}
        drawn = f"seed {meta['seed']}" + (f", sub-site {meta['site']}" if meta.get("site") else "")

        def pct(k: int, m: int) -> str:
            return f"{k}/{m} ({100 * k / m:.0f} %)" if m else "-"

        old_desc = meta.get("old_desc", "the network's masks (largest region of each)")
        new_desc = meta.get("new_desc", "this build (holes filled, heart cut at the lung bases)")
        reviewer = meta.get("reviewer", (
            "One reviewer (the author of the constraints); the two overlays of a film were shown side by "
            "side in a random order, but the constraints leave visible traces (a straight cut at the "
            "heart's base, no holes), so the judging was not fully blind."))
        rows = [{"what": "overlays accepted, old", "value": pct(s["accept_old"], n)},
                {"what": "overlays accepted, new (target >= 90 %; published anchor 77.8 %)",
                 "value": pct(s["accept_new"], n)},
                {"what": "films accepted on one side only: old only / new only",
                 "value": f"{s['only_old']} / {s['only_new']}"}]
        for side in ("old", "new"):
            if side not in s:
                continue
            f = s[side]
            rows += [
                {"what": f"{side}: rejected overlays whose CTR the gate withheld or refused (target >= 80 %)",
                 "value": pct(f["rejected_withheld"], f["rejected"])},
                {"what": f"{side}: rejected overlays with quality.ok false (withheld, refused or caution)",
                 "value": pct(f["rejected_not_ok"], f["rejected"])},
                {"what": f"{side}: accepted overlays whose CTR was withheld anyway (lost answers)",
                 "value": pct(f["accepted_withheld"], f["accepted"])},
                {"what": f"{side}: films with a CTR reported, of which the overlay was accepted",
                 "value": pct(f["reported_ctr_accepted"], f["reported_ctr"])}]
        body = "\n".join([
            f"## Chest X-ray: blind visual audit on cxr_multisite, {drawn} (`benchmarks/xray_audit/`)", "",
            f"Command: `python benchmarks/xray_audit/make_sheets.py sheets` (seeded sample of {n} of cxr_multisite's "
            f"films, {drawn}; folder `{_shown(args.audit_dir)}`), "
            "judged by `benchmarks/xray_audit/CRITERIA.md` before the key was opened "
            "(`verdicts.csv`), then `python benchmarks/xray_audit/make_sheets.py score`. "
            f"`old` = {old_desc}; `new` = {new_desc}. {reviewer}", "",
            md_table(rows),
        ])
        print(body)
        if not args.no_write:
            # the seed-12 audit keeps its section; a fresh sample gets one named after its folder
            here = args.audit_dir.resolve() == HERE
            write_section("xray-audit" if here else f"xray-audit-{args.audit_dir.name}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
