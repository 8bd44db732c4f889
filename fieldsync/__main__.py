"""``python -m fieldsync``: the ``fieldsync`` command."""

from __future__ import annotations

import sys

from fieldsync.cli import main

sys.exit(main())
