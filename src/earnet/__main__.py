"""``python -m earnet``: the same as the ``earnet`` command (what ``earnet sweep`` starts)."""

import sys

from earnet.cli.main import main

sys.exit(main())
