import sys

from chaoskit.cli import main

sys.exit(main())
