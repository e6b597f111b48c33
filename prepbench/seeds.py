"""`python -m prepbench.seeds` and the console script prepbench-seeds: seeds on demand until a study's intervals are narrow.

The code is prepbench.study.seeds; this module is where the command is found."""

import sys

from prepbench.study.seeds import main

if __name__ == "__main__":
    sys.exit(main())
