"""ECG readers (``io``): beat tables and recordings. Processing lives in ``ecg.processing``."""

from cardioclarity.ecg.io.beats import BEAT_FORMATS, BeatSet, read_beats, split_beats

__all__ = ["BEAT_FORMATS", "BeatSet", "read_beats", "split_beats"]
