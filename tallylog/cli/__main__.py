import sys

from tallylog.cli import main

sys.exit(main())
