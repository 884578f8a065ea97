"""What every layer shares: samples, events, health records and typed errors. Imports nothing of
loggerd.
"""
