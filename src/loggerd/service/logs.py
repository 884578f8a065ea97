"""Log lines: one format for every loggerd process (the API's process logs like acquisition's)."""

from __future__ import annotations

import logging


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Alembic narrates every migration step at INFO; loggerd says what matters itself.
        logging.getLogger("alembic").setLevel(logging.WARNING)
