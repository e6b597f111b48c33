"""`python -m prepbench.verify` and the console script prepbench-verify: a study's runs retrained at
their recorded commit and compared.

The code is prepbench.study.verify; this module is where the command is found."""

import sys

from prepbench.study.verify import main

if __name__ == "__main__":
    sys.exit(main())
