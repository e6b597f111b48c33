"""`python -m prepbench [-m] KEY=VALUE ...`: the Hydra app. TensorFlow is imported only by jobs
that train, so --help and skipped jobs answer quickly.

Bad input of any kind (an unknown group option, a key Hydra cannot override, a PrepbenchError from
a job or from the sweep's callback) reaches the user as one line on stderr and exit status 2; with
HYDRA_FULL_ERROR=1, as the full traceback. Ctrl-C (or SIGTERM) ends the current run KILLED, exit 130.
"""

from __future__ import annotations

import os
import signal
import sys

import hydra
import hydra._internal.utils as hydra_utils
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException, MissingConfigException
from omegaconf import DictConfig

import prepbench  # noqa: F401 (registers the ${prepbench_root:} resolver used by conf/)
from prepbench.errors import PrepbenchError

BAD_INPUT_EXIT = 2
INTERRUPTED_EXIT = 130


def one_line(err: BaseException) -> str:
    """A bad-input error as one line that names the bad value and what was expected."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, name = err.missing_cfg_file.rpartition("/")
        return f"{group}={name} is unknown; expected one of {', '.join(err.options)}"
    lines = [line.strip() for line in str(err).splitlines()]
    # Hydra adds the config search path and OmegaConf's object details: context, not the message.
    if "Config search path:" in lines:
        lines = lines[: lines.index("Config search path:")]
    if err.__cause__ is not None and str(err.__cause__).strip():  # OmegaConf's reason, as Hydra prints it
        lines.append(str(err.__cause__).strip().splitlines()[0].strip())
    return " ".join(line for line in lines if line and not line.startswith(("full_key:", "object_type=")))


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
            print("interrupted: the current run is marked KILLED; run the same command again to resume", file=sys.stderr, flush=True)
            sys.exit(INTERRUPTED_EXIT)

    def wrapped(func):
        return original(lambda: run_and_report(func))

    return wrapped


hydra_utils.run_and_report = _report_bad_input(hydra_utils.run_and_report)


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


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from prepbench.job import run_job
    from prepbench.sweep import end_parent, job_position, note_elsewhere, parallel_threads, record_bad_input

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # SLURM's scancel, kill: end the run as KILLED
        signal.signal(signal.SIGTERM, _terminate)
    multirun = HydraConfig.get().mode.name == "MULTIRUN"
    if multirun and cfg.trainer.threads == 0:
        cfg.trainer.threads = parallel_threads()
    try:
        status = run_job(cfg, list(HydraConfig.get().overrides.task), job_position())
    except PrepbenchError as err:
        if full_error():
            raise
        print(f"{job_position()}error: {err}", file=sys.stderr, flush=True)
        if not multirun:
            sys.exit(BAD_INPUT_EXIT)
        # In a sweep the other jobs go on; the summary counts this one and the exit status is 2.
        record_bad_input(cfg, str(err))
        return
    except KeyboardInterrupt:
        if multirun:
            end_parent(cfg, "KILLED")
        raise
    if status == "claimed" and multirun:
        note_elsewhere(cfg)
    if status == "failed" and not multirun:
        sys.exit(1)  # in a sweep the jobs go on; the sweep's summary sets the exit code


if __name__ == "__main__":
    sys.argv = quote_path_overrides(sys.argv)
    main()
