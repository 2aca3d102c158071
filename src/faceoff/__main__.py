"""``python -m faceoff``: the same as the ``faceoff`` console script."""

import sys

from faceoff.cli import main

sys.exit(main())
