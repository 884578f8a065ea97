"""From readings to trustworthy values: calibration corrections, then derived humidity channels."""
