"""Pictures that are not chest radiographs, for the input-gate benchmark.

Three families, each as ``(group, name, bytes)`` ready for :func:`cardioclarity.xray.io.read_xray`:

* :func:`generated_negatives` — plots (lines, scatter, bars, histograms, images of functions),
  noise (uniform, Gaussian, 1/f, smoothed, salt-and-pepper), gradients, shapes and text pages, made in
  code from a seed, so a tuning set (one seed) and a test set (another) never share a picture;
* :func:`skimage_negatives` — the natural and microscopy images bundled with scikit-image;
* :func:`folder_negatives` — every file of ``negatives/`` (DICOM and PNG renderings of CT, MR,
  ultrasound, nuclear medicine and a leg CR).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _png(arr: np.ndarray) -> bytes:
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 1)
        a = (a * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _plot(kind: str, rng: np.random.Generator) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(rng.uniform(4, 8), rng.uniform(3, 6)), dpi=int(rng.integers(60, 130)))
    ax = fig.add_subplot(111)
    x = np.linspace(0, rng.uniform(4, 20), 400)
    if kind == "sine":
        for _ in range(int(rng.integers(1, 4))):
            ax.plot(x, np.sin(x * rng.uniform(0.5, 3) + rng.uniform(0, 6)) * rng.uniform(0.5, 2))
    elif kind == "scatter":
        ax.scatter(rng.normal(size=300), rng.normal(size=300), s=rng.uniform(2, 30))
    elif kind == "bars":
        ax.bar(np.arange(8), rng.uniform(1, 10, 8))
    elif kind == "hist":
        ax.hist(rng.normal(size=2000), bins=int(rng.integers(10, 60)))
    else:  # "field": an image of a 2-D function, the plot that looks most like a picture
        yy, xx = np.mgrid[-3:3:200j, -3:3:200j]
        ax.imshow(np.sin(xx * rng.uniform(1, 3)) * np.cos(yy * rng.uniform(1, 3)),
                  cmap=str(rng.choice(["gray", "viridis", "bone"])))
    ax.set_title(f"{kind} plot")
    if rng.random() < 0.5:
        fig.patch.set_facecolor("black")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _noise(kind: str, rng: np.random.Generator) -> bytes:
    from scipy import ndimage

    h, w = int(rng.integers(200, 700)), int(rng.integers(200, 700))
    if kind == "uniform":
        a = rng.random((h, w))
    elif kind == "gaussian":
        a = 0.5 + 0.15 * rng.normal(size=(h, w))
    elif kind == "pink":
        # 1/f noise: the power spectrum of natural photographs.
        fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.rfftfreq(w), indexing="ij")
        spectrum = (rng.normal(size=fy.shape) + 1j * rng.normal(size=fy.shape)) / np.maximum(
            np.hypot(fx, fy), 1.0 / max(h, w)) ** rng.uniform(0.8, 1.5)
        a = np.fft.irfft2(spectrum, s=(h, w))
        a = (a - a.min()) / (np.ptp(a) + 1e-9)
    elif kind == "smooth":
        a = ndimage.gaussian_filter(rng.normal(size=(h, w)), rng.uniform(3, 30))
        a = (a - a.min()) / (np.ptp(a) + 1e-9)
    else:  # salt and pepper on grey
        a = np.full((h, w), rng.uniform(0.2, 0.8))
        m = rng.random((h, w))
        a[m < 0.05], a[m > 0.95] = 0.0, 1.0
    return _png(a)


def _drawing(kind: str, rng: np.random.Generator) -> bytes:
    size = (int(rng.integers(256, 800)), int(rng.integers(256, 800)))
    im = Image.new("L", size, int(rng.integers(0, 255)))
    d = ImageDraw.Draw(im)
    if kind == "gradient":
        a = np.linspace(0, 1, size[0])[None, :] * np.linspace(0.3, 1, size[1])[:, None]
        return _png(a if rng.random() < 0.5 else a[::-1, ::-1])
    if kind == "shapes":
        for _ in range(int(rng.integers(3, 12))):
            x0, y0 = rng.integers(0, size[0]), rng.integers(0, size[1])
            box = [int(x0), int(y0), int(x0 + rng.integers(20, 200)), int(y0 + rng.integers(20, 200))]
            (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=int(rng.integers(0, 255)))
    else:  # a page of text
        for i in range(0, size[1], 18):
            d.text((10, i), " ".join("lorem ipsum dolor sit amet".split()[: int(rng.integers(2, 6))]) * 3,
                   fill=255 - im.getpixel((0, 0)))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


#: Generated pictures of each kind in the chest check's fit set (seed 0). Four of each let 1/f
#: noise through (one of 52 seed-1 pictures); eight of each fit that kind better.
FIT_PER_KIND = 8


def generated_negatives(seed: int, per_kind: int = 3) -> Iterator[tuple[str, str, bytes]]:
    """Plots, noise and drawings made from ``seed`` (``per_kind`` of each of 13 kinds)."""
    rng = np.random.default_rng(seed)
    makers = [("plot", k, _plot) for k in ("sine", "scatter", "bars", "hist", "field")]
    makers += [("noise", k, _noise) for k in ("uniform", "gaussian", "pink", "smooth", "saltpepper")]
    makers += [("drawing", k, _drawing) for k in ("gradient", "shapes", "text")]
    for group, kind, make in makers:
        for i in range(per_kind):
            yield group, f"{kind}-{seed}-{i}", make(kind, rng)


def skimage_negatives() -> Iterator[tuple[str, str, bytes]]:
    """Every 2-D (grey or colour) image bundled with scikit-image (none needs a download)."""
    import skimage.data as data

    names = ["astronaut", "binary_blobs", "brick", "camera", "cat", "cell", "checkerboard", "chelsea",
             "clock", "coffee", "coins", "colorwheel", "grass", "gravel", "horse", "hubble_deep_field",
             "immunohistochemistry", "logo", "microaneurysms", "moon", "page", "retina", "rocket",
             "shepp_logan_phantom", "text", "eagle", "human_mitosis", "skin", "lily"]
    for name in names:
        try:
            a = np.asarray(getattr(data, name)())
        except Exception:  # noqa: BLE001 - images that need a download are left out
            continue
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        if a.ndim == 3 and a.shape[-1] > 4:
            continue
        if a.ndim == 3 and a.shape[-1] in (2, 4):
            a = a[..., :3] if a.shape[-1] == 4 else a[..., 0]
        if a.dtype != np.uint8:
            a = (a - a.min()) / (np.ptp(a) + 1e-9)
        yield "skimage", name, _png(a)


def folder_negatives(data_dir: Path) -> Iterator[tuple[str, str, bytes]]:
    """Every file in ``<data_dir>/negatives`` (sorted)."""
    for f in sorted((data_dir / "negatives").rglob("*")):
        if f.is_file():
            yield "negatives/", f.relative_to(data_dir / "negatives").as_posix(), f.read_bytes()
