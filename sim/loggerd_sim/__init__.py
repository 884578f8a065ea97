"""Simulated reference logger and climatic chamber, for tests and demonstrations."""
