"""`python -m prepbench.report`: see prepbench.report.driver."""

from prepbench.report.driver import main

raise SystemExit(main())
