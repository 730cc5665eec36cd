import sys

from authcheck.cli.main import main

sys.exit(main())
