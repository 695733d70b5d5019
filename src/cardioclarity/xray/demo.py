"""The chest X-ray step of ``cardioclarity demo``: bundled NIH film → heart, CTR, overlay, Grad-CAM."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from cardioclarity import DISCLAIMER
from cardioclarity.reporting import Section, write_html_report

SAMPLE = "cxr_nih_00000001_000.png"


def sample_path() -> Path:
    """Path of the bundled demo film (NIH ChestX-ray14 00000001_000, labelled Cardiomegaly)."""
    return Path(str(resources.files("cardioclarity") / "samples" / SAMPLE))


def run_demo(out_dir: str | Path) -> dict:
    """Run both bundled models on the bundled film; write JSON, overlay PNGs and an HTML report.

    Returns
    -------
    dict
        ``{"title", "report": Path, "summary": str, "result": dict}``.
    """
    from cardioclarity.xray.detect import HeartDetector
    from cardioclarity.xray.io import read_xray
    from cardioclarity.xray.report import gradcam_png, overlay_png

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    img = read_xray(sample_path())
    seg = HeartDetector.load("cxr-heart-seg")
    res = seg.detect(img)
    doc = res.to_dict()
    (out / "cxr_nih_00000001_000.json").write_text(json.dumps(doc, indent=2))
    overlay = overlay_png(img, res)
    (out / "cxr_nih_00000001_000_overlay.png").write_bytes(overlay)
    box = HeartDetector.load("cxr-heart-box")
    box_res = box.detect(img)
    cam = gradcam_png(box, img, box_res)
    (out / "cxr_nih_00000001_000_gradcam.png").write_bytes(cam)
    flag = "cardiomegaly" if res.cardiomegaly else "no cardiomegaly"
    summary = (f"NIH film labelled Cardiomegaly: CTR {res.ctr:.3f} -> {flag} (cut-off "
               f"{seg.ctr_threshold:g}); heart box {doc['heart_box']}" if res.ctr is not None
               else "no CTR could be measured on the sample film")
    table = [{"model": "seg (heart + lungs -> CTR)", "heart_box": doc["heart_box"], "ctr": doc["ctr"],
              "cardiomegaly": doc["cardiomegaly"]},
             {"model": "box (reference regressor)", "heart_box": box_res.to_dict()["heart_box"],
              "ctr": "n/a", "cardiomegaly": "n/a"}]
    report = write_html_report(out / "report.html", "Chest X-ray: heart box, CTR, cardiomegaly", [
        Section("Result", text=summary + "\n\n" + "Quality notes: "
                + ("; ".join(res.quality["notes"]) or "none"), table=table),
        Section("Overlay (seg model)", images=[(
            "Heart (red) and lung (blue/green) contours, heart box (yellow), heart and thoracic "
            "diameters (horizontal lines) whose ratio is the CTR", overlay)]),
        Section("Grad-CAM (box model)", images=[(
            "Regions the box regressor's prediction depends on (Grad-CAM, averaged over the four "
            "box coordinates); white: its box", cam)]),
        Section("Sample", text="NIH ChestX-ray14 image 00000001_000 (PA, labelled Cardiomegaly), "
                "redistributable without restriction. " + DISCLAIMER),
    ], meta={"input": SAMPLE, "image_size": doc["image_size"], "model": seg.card["name"]})
    return {"title": "Chest X-ray heart detection", "report": report, "summary": summary, "result": doc}
