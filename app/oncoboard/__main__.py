"""Allow ``python -m oncoboard``."""

import sys

from oncoboard.cli import main

sys.exit(main())
