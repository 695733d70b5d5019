"""ECG: beat readers, preprocessing, autoencoder beat-anomaly detection, rhythm analysis, reports."""
