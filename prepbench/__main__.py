"""`python -m prepbench [-m] KEY=VALUE ...`: the Hydra app. TensorFlow is imported only by jobs
that train, so --help and skipped jobs answer quickly.

Bad input of any kind (an unknown group option, a key Hydra cannot override, a PrepbenchError from
a job or from the sweep's callback) reaches the user as one line on stderr and exit status 2; with
HYDRA_FULL_ERROR=1, as the full traceback. Ctrl-C (or SIGTERM) ends the current run KILLED, exit 130.
"""

from __future__ import annotations

import os
import sys
import time

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from omegaconf import DictConfig

# Importing any prepbench module runs prepbench/__init__.py, which registers ${prepbench_root:} for conf/.
from prepbench.config import one_line
from prepbench.data.cache import JobCache
from prepbench.errors import PrepbenchError
from prepbench.study.hydra_private import wrap_run_and_report

BAD_INPUT_EXIT = 2
INTERRUPTED_EXIT = 130


def full_error() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _report_bad_input(original):
    """Wraps Hydra's run_and_report (which prints a trimmed traceback and exits 1)."""

    def run_and_report(func):
        try:
            return func()
        except (PrepbenchError, CompactHydraException) as err:
            if full_error():
                raise
            print(f"error: {one_line(err)}", file=sys.stderr, flush=True)
            sys.exit(BAD_INPUT_EXIT)
        except KeyboardInterrupt:
            if full_error():
                raise
            print(
                "interrupted: the current run is marked KILLED; run the same command again to resume",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(INTERRUPTED_EXIT)

    def wrapped(func):
        return original(lambda: run_and_report(func))

    return wrapped


wrap_run_and_report(_report_bad_input)


# Keys whose values are file paths or URIs: given unquoted with characters Hydra's override grammar
# does not take bare (non-ASCII letters, quotes, parentheses, '='), they are quoted for it, so
# `data.path=/data/café (2)/x.zip` works as typed. Commas stay sweeps, `${...}` interpolations.
PATH_KEYS = ("data.path", "tracking.uri", "tracking.artifact_location", "cache_dir", "hydra.run.dir", "hydra.sweep.dir")


def quote_path_overrides(argv: list[str]) -> list[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and key.lstrip("+~") in PATH_KEYS and value and value[0] not in "'\"" and "${" not in value:
            try:
                parser.parse_override(arg)
            except Exception:
                quoted = f"{key}='" + value.replace("'", "\\'") + "'"
                try:
                    parser.parse_override(quoted)
                    arg = quoted
                except Exception:
                    pass  # Hydra reports it
        out.append(arg)
    return out


# What the jobs run by this process share: the decoded data set and each variant's preprocessed
# splits (prepbench.data.cache.JobCache). It is made here, the app's composition root, once per process:
# the basic launcher runs every job of a sweep in this process through `main`, so a sweep decodes
# its data once and transforms each variant once. Other launchers run jobs elsewhere: submitit's
# processes and joblib's tasks (which receive `main` pickled with a copy of this, still empty)
# each start from an empty cache.
JOB_CACHE = JobCache()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from prepbench.study import interrupts
    from prepbench.study.job import run_job
    from prepbench.study.sweep import (
        end_parent,
        job_position,
        job_progress,
        note_elsewhere,
        note_job_done,
        parallel_threads,
        record_bad_input,
    )

    interrupts.install()  # Ctrl-C, SLURM's scancel, kill: end the run KILLED and stop
    multirun = HydraConfig.get().mode.name == "MULTIRUN"
    if multirun and cfg.trainer.threads == 0:
        cfg.trainer.threads = parallel_threads()
    if progress := job_progress():
        print(progress, flush=True)
    started = time.monotonic()
    try:
        status = run_job(cfg, list(HydraConfig.get().overrides.task), job_position(), JOB_CACHE)
    except PrepbenchError as err:
        if full_error():
            raise
        print(f"{job_position()}error: {err}", file=sys.stderr, flush=True)
        if not multirun:
            sys.exit(BAD_INPUT_EXIT)
        # In a sweep the other jobs go on; the summary counts this one and the exit status is 2.
        record_bad_input(cfg, str(err))
        note_job_done("bad input", time.monotonic() - started)
        return
    except KeyboardInterrupt:
        if multirun:
            end_parent(cfg, "KILLED")
        raise
    note_job_done(status, time.monotonic() - started)
    if status == "claimed" and multirun:
        note_elsewhere(cfg)
    if status == "failed" and not multirun:
        sys.exit(1)  # in a sweep the jobs go on; the sweep's summary sets the exit code


if __name__ == "__main__":
    sys.argv = quote_path_overrides(sys.argv)
    main()
