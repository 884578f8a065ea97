"""History: the durable spool, the writer that drains it, the store (SQLite or PostgreSQL),
rollups, downsampling and exports. Knows no hardware.
"""
