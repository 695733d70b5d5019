"""ECG readers (``io``): beat tables and recordings. Processing lives in ``ecg.processing``."""
