"""``python -m actionzoo ...`` (and ``torchrun -m actionzoo ...``): the same as the ``actionzoo`` command."""

import sys

from actionzoo.cli import main

sys.exit(main())
