"""ECG readers (``io``): beat tables and recordings. Processing lives in ``ecg.processing``."""

from cardioclarity.ecg.io.beats import BEAT_FORMATS, BeatSet, read_beats, split_beats
from cardioclarity.ecg.io.records import Annotations, Record, read_record, select_lead

__all__ = ["BEAT_FORMATS", "Annotations", "BeatSet", "Record", "read_beats", "read_record",
           "select_lead", "split_beats"]
