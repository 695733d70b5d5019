"""REST backend (FastAPI) and web page over the ECG and chest X-ray pipelines."""
