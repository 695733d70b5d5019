"""Chest X-ray: DICOM/PNG reading, heart and lung segmentation, heart box, CTR, cardiomegaly."""
