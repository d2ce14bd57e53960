"""`python -m nstlib` is the `nst` command."""

import sys

from nstlib.ui.cli import main

sys.exit(main())
