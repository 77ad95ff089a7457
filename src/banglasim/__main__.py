import sys

from banglasim.cli import main

sys.exit(main())
