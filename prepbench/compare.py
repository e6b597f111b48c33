"""`python -m prepbench.compare` and the console script prepbench-compare: two settings of one key, paired by seed.

The code is prepbench.study.compare; this module is where the command is found."""

import sys

from prepbench.study.compare import main

if __name__ == "__main__":
    sys.exit(main())
