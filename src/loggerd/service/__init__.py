"""The composition root: the configuration, and the daemon that wires acquisition, processing, the
live view and storage together.
"""
