"""prepbench.study.hydra_private, the only user of Hydra's private API: each test fails, naming that
module, on a Hydra release that moves or changes what it relies on."""

import importlib
import inspect

import hydra
import pytest

from prepbench.errors import PrepbenchError
from prepbench.study import hydra_private

WHY = "prepbench/study/hydra_private.py relies on Hydra internals; check them against this Hydra release"


def test_hydra_is_the_release_the_module_was_written_for():
    minor = ".".join(hydra.__version__.split(".")[:2])
    assert minor == hydra_private.TESTED, f"hydra-core {hydra.__version__}: {WHY}"


def test_hydra_still_reports_errors_through_the_module_level_run_and_report():
    import hydra._internal.utils as hydra_utils

    assert list(inspect.signature(hydra_utils.run_and_report).parameters) == ["func"], WHY
    # _run_hydra looks run_and_report up in its module at call time, so replacing it there works.
    assert "run_and_report" in hydra_utils._run_hydra.__code__.co_names, WHY


def test_the_app_turns_bad_input_into_one_line_and_exit_2(capsys):
    import hydra._internal.utils as hydra_utils

    importlib.import_module("prepbench.__main__")  # wraps run_and_report on import

    def bad():
        raise PrepbenchError("seed=-1 is out of range; expected an integer >= 0")

    with pytest.raises(SystemExit) as exit_:
        hydra_utils.run_and_report(bad)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: seed=-1 is out of range; expected an integer >= 0\n"
    assert hydra_utils.run_and_report(lambda: 42) == 42


def test_sweep_batches_expand_the_overrides_into_jobs():
    batches = hydra_private.sweep_batches(["prep=none,zca", "net=shallow,deep", "seed=0"])
    jobs = [job for batch in batches for job in batch]
    assert len(jobs) == 4, WHY
    assert ["prep=zca", "net=deep", "seed=0"] in jobs, WHY
