"""``python -m preimage ...`` runs the ``preimage`` command."""

import sys

from .cli import main

sys.exit(main())
