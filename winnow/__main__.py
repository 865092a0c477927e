import sys

from winnow.cli import main

sys.exit(main())
