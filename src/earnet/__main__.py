"""``python -m earnet`` runs the command-line interface."""

import sys

from earnet.cli.main import main

sys.exit(main())
