"""Calibration: lens profiles from your own shots (see docs/calibration.md)."""
