"""The `loggerd` command."""
