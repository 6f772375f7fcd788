import sys

from placeq.cli import main

sys.exit(main())
