"""Input gate and quality verdicts of the X-ray pipeline, for ``bench_xray.py --only gate``.

Every image goes through the public pipeline (``read_xray`` -> ``HeartDetector.detect``); a
reader error counts as a refusal (a clear error, no CTR). Groups and what the bundled
chest-radiograph check was fitted on (``training/train_xray_gate.py``):

* fitted on: ``cxr_heart`` train part, ``cxr_multisite/hannover``, generated pictures of seed 0;
* held out: ``cxr_heart`` val and test parts, ``cxr_multisite/ieee8023`` (49 other hospitals),
  ``cxr_samples`` and ``dicom/``; every file of ``negatives/``, scikit-image's images, the
  generated pictures of seed 2. The seed-1 pictures were held out until one of them (1/f noise)
  passed the check fitted with four generated pictures of each kind, which made the fit set
  eight of each; they are reported apart. ``hannover`` is held out from the reverse fold's check
  (``training/runs/chest-check-ieee8023.pt``, fitted on ieee8023 instead), reported beside it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from _xray_negatives import FIT_PER_KIND, folder_negatives, generated_negatives, skimage_negatives

from cardioclarity.errors import CardioClarityError
from cardioclarity.xray.detect import HeartDetector
from cardioclarity.xray.io import read_xray
from cardioclarity.xray.quality import CTR_REPORTABLE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def verdict(det: HeartDetector, source: Path | bytes, name: str) -> dict:
    """Status, reasons and CTR of one image (``status`` "error" when the reader refuses it)."""
    try:
        res = det.detect(read_xray(source, name=name))
    except CardioClarityError as exc:
        return {"name": name, "status": "error", "reasons": [type(exc).__name__], "ctr": None}
    q = res.quality
    return {"name": name, "status": q["status"], "reasons": q["reasons"], "ctr": res.ctr,
            "score": q["score"]}


def positives(data_dir: Path, split_parts: dict) -> dict[str, list[tuple[Path, str]]]:
    """Chest films by group: ``{group: [(path, name), ...]}``."""
    groups = {f"cxr_heart {part} part": [(s.image_path, s.name) for s in split_parts[part]]
              for part in ("val", "test")}
    for site in ("ieee8023", "hannover"):
        files = sorted(p for p in (data_dir / "cxr_multisite" / site).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
        groups[f"cxr_multisite/{site}"] = [(p, p.name) for p in files]
    extra = sorted((data_dir / "cxr_samples").glob("*.png")) + sorted((data_dir / "cxr_samples").glob("*.jpg"))
    extra += sorted((data_dir / "dicom").glob("*.dcm"))
    groups["cxr_samples + dicom/"] = [(p, p.name) for p in extra]
    return groups


def negatives(data_dir: Path) -> dict[str, list[tuple[bytes, str]]]:
    """Non-chest pictures by group: ``{group: [(bytes, name), ...]}``."""
    groups: dict[str, list[tuple[bytes, str]]] = {}
    for _, name, data in folder_negatives(data_dir):
        groups.setdefault(f"negatives/{name.split('/')[0]}", []).append((data, name))
    groups["scikit-image sample images"] = [(d, n) for _, n, d in skimage_negatives()]
    groups["generated, seed 2 (held out)"] = [(d, n) for _, n, d in generated_negatives(2, 4)]
    groups["generated, seed 1 (looked at)"] = [(d, n) for _, n, d in generated_negatives(1, 4)]
    groups["generated, seed 0 (fit set)"] = [(d, n) for _, n, d in generated_negatives(0, FIT_PER_KIND)]
    return groups


def run_gate(det: HeartDetector, reverse: HeartDetector | None, data_dir: Path, split_parts: dict) -> dict:
    """All verdicts: ``{"negatives": {group: [verdict]}, "positives": {...}, "reverse": {...}}``."""
    neg = {g: [verdict(det, d, n) for d, n in items] for g, items in negatives(data_dir).items()}
    pos_groups = positives(data_dir, split_parts)
    pos = {g: [verdict(det, p, n) for p, n in items] for g, items in pos_groups.items()}
    rev = {}
    if reverse is not None:
        rev = {g: [verdict(reverse, p, n) for p, n in pos_groups[g]] for g in ("cxr_multisite/hannover",)}
    return {"negatives": neg, "positives": pos, "reverse": rev}


def _pct(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.1f} %)" if n else "-"


def negative_rows(neg: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for g, vs in neg.items():
        how = Counter("reader error" if v["status"] == "error" else
                      "DICOM header" if any(r.startswith("dicom-") or r == "lateral-view" for r in v["reasons"])
                      else "chest check" if "not-a-chest-radiograph" in v["reasons"] else
                      "withheld (implausible)" if v["status"] == "withheld" else "ACCEPTED" for v in vs)
        refused = sum(v["status"] in ("error", "refused") for v in vs)
        no_ctr = sum(v["ctr"] is None for v in vs)
        rows.append({"group": g, "n": len(vs), "refused (error or 422)": _pct(refused, len(vs)),
                     "no CTR reported": _pct(no_ctr, len(vs)),
                     "how": ", ".join(f"{k} {c}" for k, c in how.most_common())})
    return rows


def positive_rows(pos: dict[str, list[dict]], label: str = "") -> list[dict]:
    rows = []
    for g, vs in pos.items():
        c = Counter(v["status"] for v in vs)
        n = len(vs)
        rows.append({"group": g + label, "n": n,
                     "refused as not a chest film": _pct(c["refused"] + c["error"], n),
                     "CTR withheld (implausible)": _pct(c["withheld"], n),
                     "measured, caution": _pct(c["caution"], n), "measured": _pct(c["measured"], n)})
    return rows


def reason_counts(pos: dict[str, list[dict]]) -> list[dict]:
    """How often each reason was raised on chest films, per group."""
    rows = []
    for g, vs in pos.items():
        c = Counter(r for v in vs for r in v["reasons"])
        rows.append({"group": g, "reasons (count)": ", ".join(f"{k} {n}" for k, n in c.most_common())})
    return rows


def ctr_range_violations(all_groups: list[dict[str, list[dict]]]) -> tuple[int, int]:
    """(reported CTRs outside CTR_REPORTABLE, reported CTRs) over every image."""
    lo, hi = CTR_REPORTABLE
    ctrs = [v["ctr"] for groups in all_groups for vs in groups.values() for v in vs if v["ctr"] is not None]
    return sum(not lo <= c <= hi for c in ctrs), len(ctrs)


def audit_flagging(pos: dict[str, list[dict]], audit_dir: Path) -> dict | None:
    """How this build's verdicts split the judged overlays of a visual-audit sample.

    Joins ``key.csv``/``verdicts.csv`` of ``audit_dir`` (``benchmarks/xray_audit``) with the
    verdicts of ``pos`` by file: of the rejected ``new`` overlays, how many this build withholds
    or refuses; of the accepted ones, how many it withholds anyway. None without the files.
    """
    from xray_audit.make_sheets import accepted_by_side, read_key

    if not ((audit_dir / "key.csv").exists() and (audit_dir / "verdicts.csv").exists()):
        return None
    key = read_key(audit_dir)
    by_file = {f"{g.split('/')[-1]}/{v['name']}": v for g, vs in pos.items() if g.startswith("cxr_multisite/")
               for v in vs}
    out = {"rejected": 0, "rejected_flagged": 0, "accepted": 0, "accepted_withheld": 0}
    for fid, ok in accepted_by_side(audit_dir, key)["new"].items():
        res = by_file.get(key[fid]["file"])
        flagged = res is None or res["status"] in ("withheld", "refused", "error")
        out["accepted" if ok else "rejected"] += 1
        out["accepted_withheld" if ok else "rejected_flagged"] += int(flagged)
    return out
