"""Everything that talks to an MLflow store on a job's or a sweep's behalf, and what a run records.

The parts: `tracking` (the experiment, a sweep's parent run, a job's child run, run names, the
config hash, resume), `claims` (claims with leases, so sweeps that meet on one store share the
work), `retries` (every MLflow call retried when a parallel writer got in the way), `store`
(opening a SQLite store safely, created once under a lock), `provenance` (commit, library
versions, hardware, data names) and `ui` (the dashboard: `python -m prepbench.ui`).
"""
