"""``python -m layering.cli``: the ``strata`` command."""

import sys

from layering.cli import main

sys.exit(main())
