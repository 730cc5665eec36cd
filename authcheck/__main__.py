import sys

from authcheck.cli import main

sys.exit(main())
