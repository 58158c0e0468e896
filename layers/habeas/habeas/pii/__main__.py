"""``python -m habeas.pii``: see :mod:`habeas.pii.cli`."""

import sys

from habeas.pii.cli import main

sys.exit(main())
