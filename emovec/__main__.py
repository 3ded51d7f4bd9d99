import sys

from emovec.cli import main

sys.exit(main())
