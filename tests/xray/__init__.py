"""Tests of cardioclarity.xray, one file per module (a package, so basenames such as
``test_io.py`` may repeat in other test folders)."""
