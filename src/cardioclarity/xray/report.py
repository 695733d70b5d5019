"""Explanations and reports: the overlay PNG, Grad-CAM, Bland-Altman plots, the HTML report.

Every writer here returns ``bytes`` (PNG) or ``str`` (HTML); the callers (CLI, demo, REST routes)
decide where they go.

The overlay is drawn with Pillow rather than Matplotlib: it is written for every file of a folder
run and served by the web backend, so it must cost milliseconds, not a figure's setup time.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from cardioclarity.validation import to_jsonable
from cardioclarity.xray.io import XrayImage
from cardioclarity.xray.measure import _box_slices

if TYPE_CHECKING:
    from cardioclarity.reporting import Section
    from cardioclarity.xray.detect import HeartDetector, HeartResult

__all__ = [
    "MAX_OVERLAY_SIDE",
    "bland_altman_png",
    "colour_bar_box",
    "gradcam_map",
    "gradcam_png",
    "overlay_png",
    "render_xray_report",
]

#: Overlays of larger films are scaled down to this longest side (a 2k film would give an 8 MB PNG).
MAX_OVERLAY_SIDE = 1024

#: zlib level of the overlay PNGs: level 1 encodes a 1024-px overlay about 3x faster than the
#: default and the file is a few per cent larger (contours and flat banners compress well).
_PNG_LEVEL = 1

_COLOURS = {"heart": (255, 64, 64), "right_lung": (64, 200, 255), "left_lung": (80, 255, 120),
            "box": (255, 210, 0), "heart_line": (255, 120, 120), "thorax_line": (120, 220, 255)}


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size only
        return ImageFont.load_default()


def _to_rgb(pixels: np.ndarray, scale: float) -> Image.Image:
    grey = np.clip(np.asarray(pixels, dtype=np.float32), 0, 1)
    grey *= 255
    img = Image.fromarray(grey.astype(np.uint8), mode="L")
    if scale != 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BILINEAR)
    return img.convert("RGB")


def _contour(mask: np.ndarray, width: int) -> np.ndarray:
    """The band of ``width`` pixels inside the mask's border, computed inside its bounding box
    (erosion treats the outside as background either way, so the band is the same)."""
    out = np.zeros(mask.shape, dtype=bool)
    box = _box_slices(mask)
    if box is None:
        return out
    crop = mask[box]
    out[box] = crop & ~ndimage.binary_erosion(crop, iterations=max(1, width))
    return out


def overlay_png(image: XrayImage, result: HeartResult, *, show_masks: bool = True,
                annotate: bool = True) -> bytes:
    """PNG bytes: the film with heart/lung contours, the heart box, the two CTR diameters as
    horizontal lines and the CTR value (with the cardiomegaly flag) written in the corner.

    Parameters
    ----------
    image : XrayImage
    result : HeartResult
        From :meth:`cardioclarity.xray.detect.HeartDetector.detect` on that image.
    show_masks : bool
        Draw the segmentation contours (seg model only).
    annotate : bool
        Write the verdict banner (CTR, or "NOT MEASURED" and why) and the disclaimer; False
        draws the contours and lines only (blind visual audits).
    """
    h, w = image.pixels.shape
    scale = min(1.0, MAX_OVERLAY_SIDE / max(h, w))
    canvas = _to_rgb(image.pixels, scale)
    lw = max(2, round(min(canvas.size) / 256))
    arr = np.asarray(canvas).copy()
    if show_masks and result.masks is not None:
        for mask, key in zip(result.masks, ("heart", "right_lung", "left_lung"), strict=False):
            m = mask
            if m.shape != (canvas.height, canvas.width):
                m = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(
                    canvas.size, Image.Resampling.NEAREST)) > 0
            arr[_contour(m, lw)] = _COLOURS[key]
    canvas = Image.fromarray(arr)
    draw = ImageDraw.Draw(canvas)
    if result.heart_box is not None:
        x0, y0, x1, y1 = (v * scale for v in result.heart_box)
        draw.rectangle([x0, y0, x1, y1], outline=_COLOURS["box"], width=lw)
    meas = result.measurements or {}
    for key in ("heart_line", "thorax_line"):
        line = meas.get(key)
        if line:
            xa, xb, y = (v * scale for v in line)
            draw.line([(xa, y), (xb, y)], fill=_COLOURS[key], width=lw)
            for x in (xa, xb):  # end ticks make the measured extent unambiguous
                draw.line([(x, y - 4 * lw), (x, y + 4 * lw)], fill=_COLOURS[key], width=lw)
    if not annotate:
        buf = io.BytesIO()
        canvas.save(buf, format="PNG", optimize=False, compress_level=_PNG_LEVEL)
        return buf.getvalue()
    font = _font(max(12, canvas.height // 28))
    quality = result.quality or {}
    status = quality.get("status", "measured" if quality.get("ok", True) else "caution")
    if status in ("refused", "withheld"):
        # The verdict first and big: a withheld CTR must not read like a small footnote.
        head = ("NOT MEASURED: not a frontal chest radiograph" if status == "refused"
                else "NOT MEASURED: implausible segmentation, CTR withheld")
        _banner(draw, canvas, [head, _reason_text(quality)], (170, 0, 0), font)
    else:
        if result.ctr is not None:
            flag = "cardiomegaly" if result.cardiomegaly else "normal size"
            text = f"CTR {result.ctr:.3f} ({flag}, cut-off {result.model.get('ctr_threshold', 0.5):g})"
        else:
            text = "heart box only (no CTR)" if result.heart_box is not None else "no heart found"
        lines = [text]
        if status == "caution":
            lines.append("CAUTION: " + _reason_text(quality))
        _banner(draw, canvas, lines, (150, 90, 0) if status == "caution" else (0, 0, 0), font)
    small = _font(max(10, canvas.height // 48))
    pad = lw * 2
    draw.text((pad, canvas.height - pad - small.size if hasattr(small, "size") else canvas.height - 20),
              "Research use only. Not a medical device.", fill=(255, 200, 80), font=small)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=False, compress_level=_PNG_LEVEL)
    return buf.getvalue()


def _reason_text(quality: dict) -> str:
    """The quality reasons in words (:data:`cardioclarity.xray.quality.REASONS`)."""
    from cardioclarity.xray.quality import REASONS

    reasons = quality.get("reasons") or []
    return "; ".join(REASONS.get(r, r) for r in reasons) or "see the quality notes"


def _banner(draw: ImageDraw.ImageDraw, canvas: Image.Image, lines: list[str], fill: tuple[int, int, int],
            font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    """Full-width bar at the top holding ``lines`` (long ones wrapped at words to the image width)."""
    pad = max(4, canvas.width // 128)
    wrapped: list[str] = []
    for line in lines:
        current = ""
        for word in line.split():
            trial = f"{current} {word}".strip()
            if current and draw.textlength(trial, font=font) > canvas.width - 2 * pad:
                wrapped.append(current)
                current = word
            else:
                current = trial
        wrapped.append(current)
    box = draw.textbbox((0, 0), "Ag", font=font)
    line_h = box[3] - box[1] + pad
    draw.rectangle([0, 0, canvas.width, 2 * pad + line_h * len(wrapped)], fill=fill)
    for i, line in enumerate(wrapped):
        draw.text((pad, pad + i * line_h), line, fill=(255, 255, 255), font=font)


def gradcam_map(detector: HeartDetector, image: XrayImage, target_layer: str = "net.layer3") -> np.ndarray:
    """Grad-CAM saliency (H, W) in [0, 1] at the input's size, for the ``box`` model.

    The CAM of each of the four box coordinates (via :class:`monai.visualize.GradCAM`) is averaged:
    the map shows which image regions the predicted box depends on.
    """
    import torch
    from monai.visualize import GradCAM

    from cardioclarity.errors import InvalidInputError
    from cardioclarity.xray.models import preprocess

    if detector.model_name != "box":
        raise InvalidInputError("Grad-CAM is defined here for the box model only.",
                                hint="load it with HeartDetector.load('box').")
    cam = GradCAM(nn_module=detector.net, target_layers=target_layer)
    x = preprocess(image.pixels, detector.input_size)
    with torch.enable_grad():
        maps = [cam(x, class_idx=i)[0, 0] for i in range(4)]
    m = torch.stack([torch.as_tensor(v) for v in maps]).mean(0)[None, None].float()
    h, w = image.pixels.shape
    m = torch.nn.functional.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    m = m - m.min()
    return m / m.max() if m.max() > 0 else m


def gradcam_png(detector: HeartDetector, image: XrayImage,
                result: HeartResult | None = None) -> bytes:
    """PNG bytes: the Grad-CAM map of the box model blended over the film (box drawn if given),
    with a colour bar (:func:`colour_bar_box`) saying which colours mean high and low saliency."""
    from matplotlib import colormaps

    cam = gradcam_map(detector, image)
    h, w = cam.shape
    scale = min(1.0, MAX_OVERLAY_SIDE / max(h, w))
    base = np.asarray(_to_rgb(image.pixels, scale), dtype=np.float32)
    heat = Image.fromarray((cam * 255).astype(np.uint8)).resize((base.shape[1], base.shape[0]))
    rgb = colormaps["jet"](np.asarray(heat) / 255.0)[..., :3] * 255
    out = Image.fromarray((0.55 * base + 0.45 * rgb).astype(np.uint8))
    if result is not None and result.heart_box is not None:
        ImageDraw.Draw(out).rectangle([v * scale for v in result.heart_box], outline=(255, 255, 255),
                                      width=max(2, round(min(out.size) / 256)))
    _colour_bar(out, colormaps["jet"])
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


def colour_bar_box(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where :func:`gradcam_png` draws its colour bar on an image of ``size`` (w, h): the bar's
    ``(x0, y0, x1, y1)``, inset at the right edge, the top meaning saliency 1, the bottom 0."""
    w, h = size
    bw, bh = max(6, w // 40), max(20, int(h * 0.4))
    x1 = w - max(4, w // 64) - max(20, w // 14)  # room for the labels on the right
    y0 = (h - bh) // 2
    return x1 - bw, y0, x1, y0 + bh


def _colour_bar(img: Image.Image, cmap) -> None:
    """Draw the saliency colour bar (high at the top, low at the bottom) on ``img`` in place."""
    x0, y0, x1, y1 = colour_bar_box(img.size)
    ramp = np.linspace(1.0, 0.0, y1 - y0)
    strip = (cmap(ramp)[:, :3] * 255).astype(np.uint8)[:, None, :].repeat(x1 - x0, axis=1)
    draw = ImageDraw.Draw(img)
    font = _font(max(10, img.height // 48))
    pad = 3
    draw.rectangle([x0 - pad, y0 - pad, img.width - 1, y1 + pad], fill=(0, 0, 0))
    img.paste(Image.fromarray(strip), (x0, y0))
    draw.text((x1 + pad, y0), "high", fill=(255, 255, 255), font=font)
    draw.text((x1 + pad, y1 - font.size if hasattr(font, "size") else y1 - 10), "low",
              fill=(255, 255, 255), font=font)


def bland_altman_png(measured: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray,
                     reference_label: str = "reference CTR") -> bytes:
    """Bland-Altman plot (difference vs mean) of predicted vs reference CTR, as PNG bytes."""
    from cardioclarity.metrics import bland_altman
    from cardioclarity.reporting import figure_to_png, pyplot

    plt = pyplot()

    m = np.asarray(measured, float)
    r = np.asarray(reference, float)
    ba = bland_altman(m, r)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter((m + r) / 2, m - r, s=14, alpha=0.7)
    for y, style, label in ((ba["bias"], "-", f"bias {ba['bias']:+.4f}"),
                            (ba["loa_low"], "--", f"-1.96 SD {ba['loa_low']:+.4f}"),
                            (ba["loa_high"], "--", f"+1.96 SD {ba['loa_high']:+.4f}")):
        ax.axhline(y, ls=style, color="tab:red", lw=1, label=label)
    ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"mean of predicted and {reference_label}")
    ax.set_ylabel(f"predicted - {reference_label}")
    ax.set_title(f"CTR agreement (n={ba['n']}, MAE {ba['mae']:.4f})")
    ax.legend(fontsize=8, loc="best")
    return figure_to_png(fig)


def _verdict_section(quality: dict) -> Section:
    """First section of the report: measured, measured with a caution, or not measured and why."""
    from html import escape

    from cardioclarity.reporting import Section

    status = quality.get("status", "measured" if quality.get("ok", True) else "caution")
    title, colour = {"refused": ("Not measured: not a frontal chest radiograph", "#a00"),
                     "withheld": ("Not measured: implausible segmentation, CTR withheld", "#a00"),
                     "caution": ("Measured, with a caution", "#a60")}.get(status, ("Measured", "#060"))
    score = quality.get("score")
    body = (f'<p style="font-size:1.4em;font-weight:bold;color:{colour}">{escape(title)}</p>'
            f"<p>Quality score {score if score is not None else '-'} (0 = implausible, 1 = typical of "
            "the training films).</p>")
    reasons = quality.get("reasons") or []
    if reasons:
        from cardioclarity.xray.quality import REASONS

        body += "<ul>" + "".join(f"<li><code>{escape(r)}</code>: {escape(REASONS.get(r, r))}</li>"
                                 for r in reasons) + "</ul>"
    return Section("Verdict", html_body=body)


def render_xray_report(result: dict[str, Any], overlay_png_bytes: bytes, stem: str) -> str:
    """The HTML report of one film: result table, overlay, quality checks and model card.

    Parameters
    ----------
    result : dict
        :meth:`HeartResult.to_dict() <cardioclarity.xray.detect.HeartResult.to_dict>` (the
        ``<stem>.json`` object); extra keys are shown as rows of the result table.
    overlay_png_bytes : bytes
        :func:`overlay_png` of the same film.
    stem : str
        The film's name without extension, for the title.

    Returns
    -------
    str
        A self-contained HTML page (the overlay embedded as a data URI).
    """
    from cardioclarity.reporting import Section, render_html

    flat = {k: v for k, v in result.items() if k not in {"model", "quality", "disclaimer"}}
    rows = [{"field": k, "value": json.dumps(to_jsonable(v)) if isinstance(v, list | dict) else v}
            for k, v in flat.items()]
    quality = result.get("quality") or {}
    sections = [_verdict_section(quality)] if isinstance(quality, dict) and quality else []
    sections += [Section("Result", table=rows),
                Section("Overlay", images=[("Heart contour and box, cardiothoracic ratio lines",
                                            overlay_png_bytes)])]
    if isinstance(quality, dict) and quality:
        sections.append(Section("Quality", table=[{"check": k, "value": json.dumps(to_jsonable(v))}
                                                  for k, v in quality.items()]))
    model = result.get("model")
    if isinstance(model, dict) and model:
        sections.append(Section("Model", table=[{"field": k, "value": json.dumps(to_jsonable(v))}
                                                for k, v in model.items()]))
    return render_html(f"Chest X-ray heart detection: {stem}", sections)
