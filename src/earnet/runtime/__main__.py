"""``python -m earnet.runtime``: the PyTorch-free command line (see :mod:`earnet.runtime.cli`)."""

import sys

from earnet.runtime.cli import main

sys.exit(main())
