"""CardioClarity: open-source cardiac AI toolkit.

ECG beat and rhythm anomaly detection (autoencoders on heartbeats, RR-interval analysis) and
chest X-ray heart detection (heart box, cardiothoracic ratio, cardiomegaly flag), with one CLI
and one REST backend.

**Research use only. Not a medical device.** Outputs must not be used for diagnosis or treatment.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Carried by every report, JSON output and HTTP response the toolkit writes.
DISCLAIMER = (
    "Research use only. Not a medical device: CardioClarity's outputs are not validated for "
    "clinical use and must not be used for diagnosis or treatment decisions."
)

__all__ = ["DISCLAIMER", "__version__"]
