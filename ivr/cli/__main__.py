"""``python -m ivr.cli``: the ``ivr`` command."""

import sys

from ivr.cli import main

sys.exit(main())
