"""Alembic migrations of the history database, shipped with the package (`loggerd db upgrade`)."""
