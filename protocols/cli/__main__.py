"""``python -m agelab.protocols.cli``: the ``agelab`` command without its console script."""

import sys

from agelab.protocols.cli import main

sys.exit(main())
