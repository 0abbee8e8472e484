"""``python -m preimage.cli`` (what torchrun runs)."""

import sys

from preimage.cli import main

sys.exit(main())
