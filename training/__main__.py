"""`python -m training …` is the same as the `relatedly` command."""

import sys

from training.cli import main

sys.exit(main())
