"""Validation of a screening run: the stratified recall estimate, its plan and sample, and thresholds."""
