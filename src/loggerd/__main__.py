"""`python -m loggerd` is the `loggerd` command."""

from __future__ import annotations

import sys

from loggerd.cli.main import main

sys.exit(main())
