"""prepbench.study.seeds: rounds of added seeds that stop on precision or at the maximum, resumable.

Most tests replace the sweep subprocess by a fake that logs, per job, exactly the params a job
logs (the composed config, flattened) with accuracies of a known spread; one test runs the real
command on synthetic data."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.study.seeds import Plan, plan_from, run
from tests._proc import env, error_lines

SD = {"none": 0.0, "std": 0.001, "zca": 0.05}  # std is quiet, zca noisy


class FakeSweeps:
    """Stands in for `python -m prepbench -m ITEMS`: expands the sweep, skips FINISHED configs."""

    def __init__(self, store):
        from mlflow.tracking import MlflowClient

        self.uri = f"sqlite:///{store}/mlflow.db"
        self.client = MlflowClient(self.uri)
        self.store, self.done, self.trained, self.calls = store, {}, 0, []

    def __call__(self, items):
        import itertools

        from hydra import compose, initialize_config_dir

        from prepbench.track.identity import config_hash

        self.calls.append(items)
        swept = [(i.split("=", 1)[0], i.split("=", 1)[1].split(",")) for i in items if "," in i]
        fixed = [i for i in items if "," not in i]
        for values in itertools.product(*[v for _, v in swept]):
            job = fixed + [f"{k}={v}" for (k, _), v in zip(swept, values)]
            with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
                cfg = compose(config_name="config", overrides=job)
            key = config_hash(cfg)
            if key in self.done:
                continue
            self.log(cfg, job, key)
        return 0

    def log(self, cfg, job, key):
        from mlflow.entities import Metric, Param

        from prepbench.track.identity import flatten

        exp = self.client.get_experiment_by_name(cfg.tracking.experiment)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(cfg.tracking.experiment)
        tags = {"prepbench.role": "job", "prepbench.config_hash": key, "prepbench.overrides": json.dumps(job)}
        run = self.client.create_run(exp_id, run_name=f"{cfg.prep.name} {cfg.net.name} {cfg.seed}", tags=tags)
        params = {"prep": cfg.prep.name, "net": cfg.net.name, "seed": str(cfg.seed), **flatten(cfg)}
        rng = np.random.default_rng(1000 * cfg.seed + len(cfg.net.name) + 7 * len(cfg.prep.name))
        acc = 0.5 + 0.01 * cfg.seed + SD[cfg.prep.name] * rng.normal()
        self.client.log_batch(
            run.info.run_id,
            params=[Param(k, v) for k, v in params.items()],
            metrics=[Metric("test_accuracy", acc, 0, 0), Metric("val_accuracy", acc, 0, 1)],
        )
        self.client.set_terminated(run.info.run_id, "FINISHED")
        self.done[key] = run.info.run_id
        self.trained += 1


def plan(store, **kw):
    overrides = (
        "data=synthetic",
        "prep=none,std,zca",
        "net=shallow,deep",
        "study=seedy",
        f"tracking.uri=sqlite:///{store}/mlflow.db",
    )
    args = dict(halfwidth=2.0, min_seeds=3, max_seeds=6, step=1, level=0.95) | kw
    return Plan(overrides, **args)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    store = tmp_path_factory.mktemp("seeds")
    fake = FakeSweeps(store)
    rc = run(plan(store), runner=fake)
    return store, fake, rc


def _stops(fake):
    exp = fake.client.get_experiment_by_name("seedy")
    return json.loads(exp.tags["prepbench.seeds.stops"]), json.loads(exp.tags["prepbench.seeds.plan"])


def test_rounds_stop_on_precision_or_at_max_seeds(seeded):
    store, fake, rc = seeded
    assert rc == 0
    stops, plan_tag = _stops(fake)
    assert stops["std"]["rule"] == "precision" and stops["std"]["seeds"] == 3
    assert stops["std"]["halfwidth"] * 100 <= 2.0
    assert stops["zca"]["rule"] == "max seeds" and stops["zca"]["seeds"] == 6
    assert stops["zca"]["halfwidth"] * 100 > 2.0
    assert plan_tag["halfwidth"] == 2.0 and plan_tag["max_seeds"] == 6
    # round 0 is the grid at seeds 0..2; later rounds add one seed to zca and to the baseline only
    assert fake.calls[0][-1] == "seed=0,1,2"
    later = fake.calls[1:]
    assert [c[:3] for c in later] == [["prep=none,zca", "net=shallow,deep", f"seed={s}"] for s in (3, 4, 5)]
    assert fake.trained == 3 * 2 * 3 + 3 * 2 * 2


def test_run_again_resumes_and_trains_nothing(seeded):
    store, fake, _ = seeded
    before = fake.trained
    assert run(plan(store), runner=fake) == 0
    assert fake.trained == before
    # a larger maximum resumes where it stopped: zca gets seeds 6 and 7
    assert run(plan(store, max_seeds=8), runner=fake) == 0
    assert fake.trained == before + 2 * 2 * 2
    assert _stops(fake)[0]["zca"]["seeds"] == 8


def test_the_report_says_which_rule_stopped_each(seeded, tmp_path):
    from prepbench.report import main

    store, _, _ = seeded
    assert (
        main(
            [
                "--experiment",
                "seedy",
                "--tracking-uri",
                f"sqlite:///{store}/mlflow.db",
                "--out",
                str(tmp_path),
                "--no-log-artifact",
            ]
        )
        == 0
    )
    md = (tmp_path / "report.md").read_text()
    assert "precision: ±" in md and "≤ ±2.0 pp at 3 seeds" in md
    assert "max seeds (8)" in md and "Seeds were added by `python -m prepbench.seeds`" in md


def test_the_rule_never_looks_at_the_estimate():
    """Two variants with the same spread and different means get the same decision."""
    from prepbench.report.analysis import analyse
    from prepbench.report.select import Spec, select
    from prepbench.study.seeds import decide
    from tests._report_runs import frame, grid

    rows = grid(["none", "std", "zca"], seeds=range(3))
    for r in rows:
        if r["params.prep"] == "zca":
            r["metrics.test_accuracy"] += 0.2  # same noise as std, far larger benefit
        elif r["params.prep"] == "std":
            r["metrics.test_accuracy"] -= 0.02
    a = analyse(select(frame(rows), Spec()), {}, "s")
    tight, loose = (Plan((), h, 3, 10, 1, 0.95) for h in (0.05, 5.0))
    assert [d.rule for d in decide(a, tight)] == ["more", "more"]
    assert [d.rule for d in decide(a, loose)] == ["precision", "precision"]
    assert [d.new_seeds for d in decide(a, tight)] == [(3,), (3,)]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--halfwidth", "0"], "--halfwidth 0 is out of range"),
        (["--halfwidth", "2", "--min-seeds", "5", "--max-seeds", "4"], "--max-seeds 4 is out of range"),
        (["--halfwidth", "2", "--min-seeds", "1"], "--min-seeds 1 is out of range"),
        (["--halfwidth", "2", "--step", "0"], "--step 0 is out of range"),
        (["--halfwidth", "2", "--bogus"], "--bogus is not an option"),
    ],
)
def test_bad_options_are_one_line(argv, message):
    with pytest.raises(PrepbenchError, match=message):
        plan_from(argv)


def test_plan_keeps_the_hydra_overrides_and_drops_multirun():
    p = plan_from(
        ["-m", "experiment=cpu", "--halfwidth", "2", "--max-seeds", "10", "--min-seeds", "5", "data=synthetic"]
    )
    assert p.overrides == ("experiment=cpu", "data=synthetic") and (p.min_seeds, p.max_seeds) == (5, 10)


@pytest.mark.slow
def test_the_real_command_on_synthetic_data(tmp_path):
    """Round 0 with 2 seeds, then 1 more (max 3): 6 tiny jobs through the real sweep; again: none."""
    args = [
        "-m",
        "data=synthetic",
        "prep=none,zca",
        "net=shallow",
        "study=seedreal",
        "trainer.epochs=1",
        "net.width=4",
        "net.dense=8",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        f"tracking.artifact_location={tmp_path}/art",
        f"hydra.sweep.dir={tmp_path}/sweep",
        "--min-seeds",
        "2",
        "--max-seeds",
        "3",
        "--halfwidth",
        "0.001",
    ]
    cmd = [sys.executable, "-m", "prepbench.seeds", *args]
    first = subprocess.run(cmd, cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + "\n".join(error_lines(first.stderr))[-3000:]
    assert "seeds round 2: zca: 3 seeds, stopped: max seeds" in first.stdout
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.get_experiment_by_name("seedreal")
    jobs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("prepbench.role") == "job"]
    assert sorted((r.data.params["prep"], int(r.data.params["seed"])) for r in jobs) == [
        ("none", 0),
        ("none", 1),
        ("none", 2),
        ("zca", 0),
        ("zca", 1),
        ("zca", 2),
    ]
    assert json.loads(exp.tags["prepbench.seeds.stops"])["zca"]["rule"] == "max seeds"
    again = subprocess.run(cmd, cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "test_accuracy" not in again.stdout  # every job skipped
    assert len([r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("prepbench.role") == "job"]) == 6
    assert not math.isnan(json.loads(exp.tags["prepbench.seeds.stops"])["zca"]["halfwidth"])


def test_grid_where_skips_settings_resolved_when_a_job_starts():
    import pandas as pd

    from prepbench.study.seeds import grid_where

    runs = pd.DataFrame(
        {
            "trainer.precision": ["bfloat16", "bfloat16"],
            "data.train_size": ["10000", "2500"],
            "prep.zca_epsilon": ["0.1", None],
            "trainer.threads": ["1", "2"],
        }
    )
    settings = {
        "trainer.precision": "auto",
        "data.train_size": "10000",
        "prep.zca_epsilon": "1e-06",
        "trainer.threads": "0",
        "seed": "0",
        "trainer.epochs": "30",
    }
    assert grid_where(settings, runs, Plan((), 2.0, None, 10, 1, 0.95)) == (("data.train_size", ("10000",)),)


def test_another_command_with_the_same_rule_is_named_beside_the_first(seeded):
    """Studies sharing an experiment (a grid, rows added to it later) run the rule from their own
    experiment files: the report names every command; a new rule replaces the plan."""
    store, fake, _ = seeded
    assert run(plan(store, max_seeds=8), runner=fake, command="python -m prepbench.seeds other") == 0
    assert _stops(fake)[1]["commands"] == ["python -m prepbench.seeds", "python -m prepbench.seeds other"]
    assert run(plan(store, max_seeds=9), runner=fake, command="python -m prepbench.seeds other") == 0
    assert _stops(fake)[1]["commands"] == ["python -m prepbench.seeds other"]
