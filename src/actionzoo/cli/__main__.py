"""``python -m actionzoo.cli ...``: the same as the ``actionzoo`` command."""

import sys

from actionzoo.cli.main import main

sys.exit(main())
