"""CardioClarity: open-source cardiac AI toolkit.

ECG beat and rhythm anomaly detection (autoencoders on heartbeats, RR-interval analysis) and
chest X-ray heart detection (heart box, cardiothoracic ratio, cardiomegaly flag), with one CLI
and one REST backend.

**Research use only. Not a medical device.** Outputs must not be used for diagnosis or treatment.

>>> import cardioclarity as cc
>>> findings = cc.analyze_record(cc.read_record("mitdb/100.hea"))     # ECG record -> findings
>>> scores = cc.score_table(cc.load_detector(), cc.read_beats("beats.csv").X)
>>> result = cc.HeartDetector.load().detect(cc.read_xray("film.dcm"))  # chest film -> CTR

Packages: :mod:`cardioclarity.ecg.beats`, :mod:`cardioclarity.ecg.records`,
:mod:`cardioclarity.xray`, :mod:`cardioclarity.serve`; the layout and the stable schemas are in
``docs/ARCHITECTURE.md``. The names below are imported on first use, so ``import cardioclarity``
stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Carried by every report, JSON output and HTTP response the toolkit writes.
DISCLAIMER = (
    "Research use only. Not a medical device: CardioClarity's outputs are not validated for "
    "clinical use and must not be used for diagnosis or treatment decisions."
)

from cardioclarity._lazy import lazy_exports  # noqa: E402 - DISCLAIMER first: submodules need it

_EXPORTS = {
    **dict.fromkeys(["read_beats", "load_detector", "score_table", "BeatAnomalyDetector"],
                    "cardioclarity.ecg.beats"),
    **dict.fromkeys(["read_record", "analyze_record", "Record", "Findings"],
                    "cardioclarity.ecg.records"),
    **dict.fromkeys(["read_xray", "HeartDetector", "overlay_png"], "cardioclarity.xray"),
    **dict.fromkeys(["CardioClarityError", "InvalidInputError"], "cardioclarity.errors"),
}

__all__ = ["DISCLAIMER", "__version__", *sorted(_EXPORTS)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
