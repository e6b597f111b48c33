"""scripts/rename_runs.py: old runs get the names today's sweeps give them."""

import importlib.util

from prepbench import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("rename_runs", ROOT / "scripts" / "rename_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_name_comes_from_the_logged_command_and_names_every_swept_setting():
    rename = _script()
    bf16 = "python -m prepbench prep=zca net=deep seed=2 trainer.precision=bfloat16 experiment=precision"
    fp32 = "python -m prepbench prep=zca net=deep seed=2 trainer.precision=float32 experiment=precision"
    assert rename.new_name(bf16) == "zca · deep · seed 2 · precision bfloat16"
    assert rename.new_name(fp32) != rename.new_name(bf16)
    assert rename.new_name("python -m prepbench -m prep=none net=shallow net.depth=5 seed=0").startswith("none · ")


def test_a_store_that_is_not_a_db_file_is_refused(capsys):
    assert _script().main(["results"]) == 2
    assert "usage" in capsys.readouterr().err
