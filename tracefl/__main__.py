import sys

from tracefl.cli import main

sys.exit(main())
