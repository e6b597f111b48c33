"""`python -m prepbench.pilot` and the console script prepbench-pilot: a study's epochs, or one setting, chosen on validation accuracy.

The code is prepbench.study.pilot; this module is where the command is found."""

import sys

from prepbench.study.pilot import main

if __name__ == "__main__":
    sys.exit(main())
