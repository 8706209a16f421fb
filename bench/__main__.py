"""``python -m bench [--quick] [--only appends,http,...]``: see :mod:`bench.runner`."""

import sys

from bench.runner import main

sys.exit(main())
