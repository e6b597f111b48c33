"""`python -m prepbench.ui [STUDY] [KEY=VALUE ...]`: the MLflow dashboard on a study's store (the console
script prepbench-ui). The dashboard is prepbench.track.ui; `prepbench.ui.runs_table_url` and
`prepbench.ui.compare_url` stay where docs/dashboard.md names them."""

import sys

from prepbench.track.ui import compare_url, main, runs_table_url

__all__ = ["compare_url", "main", "runs_table_url"]

if __name__ == "__main__":
    sys.exit(main())
