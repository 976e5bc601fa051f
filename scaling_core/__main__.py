"""Entry point of ``python -m scaling_core`` (see :mod:`scaling_core.cli`)."""

import sys

from scaling_core.cli import main

sys.exit(main())
