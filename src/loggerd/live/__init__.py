"""The live view: the recent window of every channel in memory."""
