"""The driver plugin interface (one device model: open, read, close, its memory) and the registry
that finds drivers.
"""
