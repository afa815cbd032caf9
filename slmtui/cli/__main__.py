"""`python -m slmtui.cli`: the same as `slmtui`."""

import sys

from slmtui.cli import main

sys.exit(main())
