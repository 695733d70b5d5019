"""ECG readers (``io``): beat tables and recordings. Processing lives in ``ecg.processing``."""

from cardioclarity.ecg.io.records import Annotations, Record, read_record, select_lead

__all__ = ["Annotations", "Record", "read_record", "select_lead"]
