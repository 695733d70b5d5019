"""``python -m cardioclarity`` is the same as the ``cardioclarity`` command."""

import sys

from cardioclarity.cli import main

sys.exit(main())
