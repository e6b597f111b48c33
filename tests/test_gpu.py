"""prepbench.gpu (scripts/gpu_study.py): the converged study's design fixed, only its whole seeds sized; the
archives a call brings back and resumes from."""

import argparse
import os
import tarfile
from pathlib import Path

import pytest

from prepbench.gpu import __main__ as cli
from prepbench.gpu import plan as gpu_plan
from prepbench.gpu import results

# The H200's figures (results/memo-gpu/README.md); evaluation speeds assumed 3 times training's.
MEASURED = {
    "deep": {"images_per_second": 47074, "eval_images_per_second": 141000},
    "shallow": {"images_per_second": 72307, "eval_images_per_second": 217000},
}
COUNTS = {"train": 10000, "val": 5000, "test": 10000, "epochs": 30, "scarce_train": 2500}
PREPS = ["none", "raw", "minmax", "samplewise", "std", "zca", "zca_reg", "augment", "batchnorm", "crop"]


@pytest.fixture(scope="module")
def grids():
    return gpu_plan.study_grid("converged"), gpu_plan.study_grid("converged-scarce")


def _args(**changes):
    args = dict(
        workers=6, efficiency=0.5, job_overhead=12.0, epoch_overhead=0.1, fill=0.85, max_seeds=10, data=Path("d.zip")
    )
    return argparse.Namespace(**{**args, **changes, "store": Path("/tmp/s")})


def test_the_grid_is_read_from_the_experiments_sweep(grids):
    grid, scarce = grids
    assert grid["preps"] == PREPS
    assert grid["nets"] == ["deep", "shallow"]  # the deeper net first: longer jobs first
    assert grid["seeds"] == [0, 1, 2, 3, 4]
    assert (grid["settings"]["trainer.epochs"], grid["settings"]["data.train_size"]) == ("30", "10000")  # as logged
    assert scarce["preps"] == ["none", "augment"] and scarce["settings"]["data.train_size"] == "2500"
    assert scarce["settings"]["tracking.experiment"] == grid["settings"]["tracking.experiment"] == "converged"


def test_converged_sizes_whole_seeds_only_and_fills_what_is_left_with_the_scarcity_ladder(grids):
    grid, scarce = grids
    plan = gpu_plan.seeds_plan(_args(), MEASURED, 455, COUNTS, grid, scarce)
    assert plan["epochs"] == 30
    deep = plan["job_seconds_estimate"]["deep"]  # 12 + 30 x (10000/23537 + 5000/70500 + 0.1) + 10000/70500
    assert deep == pytest.approx(12 + 30 * (10000 / 23537 + 5000 / 70500 + 0.1) + 10000 / 70500, abs=0.1)
    capacity = 455 * 6 * 0.85
    assert plan["seeds"] == int(capacity // plan["seed_seconds_estimate"]) == 4
    assert plan["seed_list"] == [0, 1, 2, 3]
    left = capacity - 4 * plan["seed_seconds_estimate"]
    assert plan["scarce"]["seeds"] == min(4, int(left // plan["scarce"]["seed_seconds_estimate"]))
    assert plan["predicted_worker_seconds"] <= capacity

    # At least one seed however short the window; at most 10, then the ladder for every seed.
    assert gpu_plan.seeds_plan(_args(), MEASURED, 10, COUNTS, grid, scarce)["seeds"] == 1
    big = gpu_plan.seeds_plan(_args(), MEASURED, 100000, COUNTS, grid, scarce)
    assert (big["seeds"], big["scarce"]["seeds"], big["seed_list"][-1]) == (10, 10, 9)
    # More workers or a faster GPU: more seeds, never more epochs or images.
    more = gpu_plan.seeds_plan(_args(workers=8), MEASURED, 455, COUNTS, grid, scarce)
    assert more["seeds"] >= plan["seeds"] and more["epochs"] == 30


def test_jobs_queue_whole_seeds_deep_first_then_the_ladder_with_the_experiments_own_sizes(grids):
    grid, scarce = grids
    plan = gpu_plan.seeds_plan(_args(), MEASURED, 455, COUNTS, grid, scarce)
    plan.update(experiment="converged", preps=grid["preps"], nets=grid["nets"], sizes={}, extra=[])
    plan["scarce"].update(seeds=2, seed_list=[0, 1])
    jobs = gpu_plan.job_list(plan)
    main = [j for j in jobs if j["experiment"] == "converged"]
    ladder = jobs[len(main) :]
    assert len(main) == 4 * len(PREPS) * 2 and len(ladder) == 2 * 2 * 2
    assert [j["seed"] for j in main] == sorted(j["seed"] for j in main)
    assert [j["net"] for j in main[: 2 * len(PREPS)]] == ["deep"] * len(PREPS) + ["shallow"] * len(PREPS)
    assert {(j["experiment"], j["prep"], j["kind"]) for j in ladder} >= {("converged-scarce", "augment", "deep scarce")}
    assert {j["seed"] for j in ladder} == {0, 1}
    overrides = gpu_plan.overrides_for(_args(), plan, main[0])
    assert overrides[:4] == ["experiment=converged", "prep=none", "net=deep", "seed=0"]
    sizes = ("data.train_size", "data.val_size", "data.test_size", "trainer.epochs", "trainer.schedule")
    assert not [o for o in overrides if o.startswith(sizes)]  # the experiment's own design
    assert gpu_plan.overrides_for(_args(), plan, ladder[0])[0] == "experiment=converged-scarce"


def test_a_resumed_store_gets_the_seeds_after_its_whole_ones_and_never_more_than_ten(grids):
    grid, scarce = grids
    done = {"grid": 5, "scarce": 5}
    plan = gpu_plan.seeds_plan(_args(), MEASURED, 455, COUNTS, grid, scarce, done)
    fresh = gpu_plan.seeds_plan(_args(), MEASURED, 455, COUNTS, grid, scarce)
    assert plan["seeds"] == fresh["seeds"] == 4  # the same room buys the same number of new seeds
    assert (plan["seeds_done"], plan["seed_list"]) == ([0, 1, 2, 3, 4], [5, 6, 7, 8])
    big = gpu_plan.seeds_plan(_args(), MEASURED, 100000, COUNTS, grid, scarce, done)
    assert big["seed_list"] == [5, 6, 7, 8, 9] and big["scarce"]["seed_list"] == [5, 6, 7, 8, 9]
    full = gpu_plan.seeds_plan(_args(), MEASURED, 100000, COUNTS, grid, scarce, {"grid": 10, "scarce": 10})
    assert full["seed_list"] == [] and full["scarce"]["seed_list"] == []
    big.update(experiment="converged", preps=grid["preps"], nets=grid["nets"], sizes={}, extra=[])
    assert {j["seed"] for j in gpu_plan.job_list(big)} == {5, 6, 7, 8, 9}  # the finished seeds are not queued


def test_whole_seeds_are_counted_in_order_for_the_grid_and_the_ladder_apart(grids):
    grid, scarce = grids

    def jobs(preps, seeds, train, status="FINISHED"):
        return [
            {"prep_choice": p, "net": n, "seed": s, "train_size": train, "status": status}
            for p in preps
            for n in grid["nets"]
            for s in seeds
        ]

    finished = jobs(grid["preps"], [0, 1, 2, 4], "10000") + jobs(scarce["preps"], [0, 1], "2500")
    finished += jobs(["none"], [3], "10000") + jobs(grid["preps"][1:], [3], "10000", status="KILLED")
    assert gpu_plan.finished_seeds(finished, grid, scarce, COUNTS, 10) == {"grid": 3, "scarce": 2}
    finished += jobs(grid["preps"][1:], [3], "10000")
    assert gpu_plan.finished_seeds(finished, grid, scarce, COUNTS, 10) == {"grid": 5, "scarce": 2}


def test_resume_unpacks_a_previous_calls_archive_as_the_store(tmp_path):
    first, out = tmp_path / "first" / "converged-gpu", tmp_path / "out"
    (first / "mlartifacts" / "run").mkdir(parents=True)
    (first / "mlflow.db").write_bytes(b"db")
    (first / "gpu.json").write_text('{"wall_seconds": 288.0}')
    out.mkdir()
    (whole,) = results.archive(first, out, "converged-gpu")
    store = tmp_path / "second" / "converged-gpu"
    store.parent.mkdir()
    assert results.resume(whole, store, "converged-gpu") == [{"wall_seconds": 288.0}]
    assert (store / "mlflow.db").read_bytes() == b"db" and (store / "mlartifacts" / "run").is_dir()
    assert sorted(p.name for p in store.parent.iterdir()) == ["converged-gpu"]  # no unpacking folder left
    (store / "gpu.json").write_text('{"wall_seconds": 300.0, "earlier_calls": [{"wall_seconds": 288.0}]}')
    (again,) = results.archive(store, out, "converged-gpu")
    third = tmp_path / "third" / "converged-gpu"
    third.parent.mkdir()
    assert results.resume(again, third, "converged-gpu") == [{"wall_seconds": 288.0}, {"wall_seconds": 300.0}]


def test_resume_is_refused_for_memo_or_a_missing_archive(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--experiment", "converged", "--resume", str(tmp_path / "none.tar.gz")])
    assert "none.tar.gz: expected the archive of a previous call" in capsys.readouterr().err
    (tmp_path / "a.tar.gz").write_bytes(b"")
    with pytest.raises(SystemExit):
        cli.parse_args(["--experiment", "memo", "--resume", str(tmp_path / "a.tar.gz")])


def test_memo_overrides_are_unchanged():
    plan = {"sizes": {"val_size": 5000, "epochs": 10}, "extra": []}
    job = {"experiment": "memo", "prep": "zca", "net": "deep", "seed": 2, "kind": "deep"}
    overrides = gpu_plan.overrides_for(_args(), plan, job)
    assert overrides[:7] == [
        "experiment=memo",
        "prep=zca",
        "net=deep",
        "seed=2",
        "trainer.backend=jax",
        "data=folder",
        f"data.path={Path('d.zip')}",
    ]
    assert {"data.val_size=5000", "trainer.epochs=10"} <= set(overrides)


def test_memo_plan_is_unchanged_it_reproduces_the_h200_call():
    """results/memo-gpu: 231 s left after the probe gave 3 seeds x 10 epochs on 22,000 images."""
    grid = gpu_plan.study_grid("memo")
    assert grid["nets"] == ["deep", "shallow"] and len(grid["preps"]) == 8
    args = _args(max_seeds=5, max_epochs=30, val_seconds=0.4)
    plan = gpu_plan.make_plan(args, MEASURED, 231, 22000, grid)
    assert (plan["seeds"], plan["epochs"]) == (3, 10)
    plan.update(experiment="memo", preps=grid["preps"], nets=grid["nets"])
    jobs = gpu_plan.job_list(plan)
    assert len(jobs) == 48 and (jobs[0]["net"], jobs[-1]["seed"]) == ("deep", 2)


def test_an_archive_too_big_to_come_back_leaves_the_artifacts_apart_in_parts_that_resume_finds(tmp_path, monkeypatch):
    store, out = tmp_path / "store", tmp_path / "out"
    for run in ("a", "b", "c"):  # random bytes: like a PNG, they do not shrink in the gzip
        (store / "mlartifacts" / "1" / run).mkdir(parents=True)
        (store / "mlartifacts" / "1" / run / "montage.png").write_bytes(os.urandom(51_200))
    (store / "mlflow.db").write_bytes(b"db")
    (store / "gpu.json").write_text("{}")
    out.mkdir()
    assert [p.name for p in results.archive(store, out, "converged-gpu")] == ["converged-gpu.tar.gz"]
    monkeypatch.setattr(results, "TAR_LIMIT", 110_000)  # two runs' artifacts fit in a part, not three
    whole, *parts = results.archive(store, out, "converged-gpu")
    assert [p.name for p in parts] == ["converged-gpu-artifacts-1.tar.gz", "converged-gpu-artifacts-2.tar.gz"]
    with tarfile.open(whole) as tar:
        assert "converged-gpu/mlflow.db" in tar.getnames()
        assert not [n for n in tar.getnames() if "mlartifacts" in n]
    runs = []
    for part in parts:
        with tarfile.open(part) as tar:
            runs.append(sorted({n.split("/")[3] for n in tar.getnames() if n.count("/") >= 3}))
    assert runs == [["a", "b"], ["c"]]
    back = tmp_path / "back" / "converged-gpu"
    back.parent.mkdir()
    results.resume(whole, back, "converged-gpu")
    assert sorted(p.name for p in (back / "mlartifacts" / "1").iterdir()) == ["a", "b", "c"]


def test_a_gpu_call_records_the_stamped_commit_and_refuses_code_that_differs(tmp_path, monkeypatch):
    """The device machine gets a copy of the tree without git: the stamp written here says its commit."""
    from prepbench.errors import PrepbenchError
    from prepbench.gpu import stamp
    from prepbench.track import provenance

    code = tmp_path / "copy"
    (code / "prepbench").mkdir(parents=True)
    (code / "conf").mkdir()
    (code / "prepbench" / "a.py").write_text("x = 1\n")
    (code / "conf" / "c.yaml").write_text("a: 1\n")
    (tmp_path / "stamp.json").write_text(f'{{"commit": "{"c" * 40}", "code_digest": "{stamp.code_digest(code)}"}}')
    monkeypatch.setattr(provenance, "ROOT", tmp_path)  # not a git checkout
    monkeypatch.setenv(stamp.STAMP_ENV, str(tmp_path / "stamp.json"))
    monkeypatch.setenv(provenance.CODE_COMMIT_ENV, "")  # commit_for_call sets it: undone after the test
    provenance.git_commit.cache_clear()
    try:
        assert stamp.commit_for_call(False, code) == "c" * 40
        assert provenance.git_commit() == "c" * 40  # what every job run of the call records
        (code / "prepbench" / "a.py").write_text("x = 2\n")  # edited after the stamp
        with pytest.raises(PrepbenchError, match="the code differs from the stamped commit cccccccccccc"):
            stamp.commit_for_call(False, code)
        assert stamp.commit_for_call(True, code) == "c" * 40 + "-dirty"
        monkeypatch.setenv(stamp.STAMP_ENV, str(tmp_path / "absent.json"))
        monkeypatch.setenv(provenance.CODE_COMMIT_ENV, "")
        provenance.git_commit.cache_clear()
        with pytest.raises(PrepbenchError, match="no git checkout and no stamp"):
            stamp.commit_for_call(False, code)
    finally:
        provenance.git_commit.cache_clear()


def test_stamping_refuses_uncommitted_changes(code_repo, tmp_path):
    from prepbench.errors import PrepbenchError
    from prepbench.gpu import stamp

    path = stamp.write_stamp(code_repo / ".gpu", code_repo)
    assert len(stamp.json.loads(path.read_text())["commit"]) == 40
    (code_repo / "train.py").write_text("changed")
    with pytest.raises(PrepbenchError, match=r"uncommitted changes \(train.py\)"):
        stamp.write_stamp(code_repo / ".gpu", code_repo)


# ---- any experiment file: every swept key a dimension of the grid ---------------------------------


@pytest.fixture(scope="module")
def other_grids():
    names = ("converged-depth", "converged-bn", "converged-scarce-steps", "converged-resnet")
    return {name: gpu_plan.study_grid(name) for name in names}


def test_every_swept_key_of_an_experiment_file_is_a_dimension_of_the_grid(other_grids):
    depth, bn, steps = (other_grids[k] for k in ("converged-depth", "converged-bn", "converged-scarce-steps"))
    assert (depth["nets"], depth["preps"]) == (["deep"], ["none", "raw", "augment", "std", "zca_shrunk"])
    assert depth["cells"] == [["net.depth=1"], ["net.depth=3"], ["net.depth=4"], ["net.depth=6"]]
    assert bn["cells"] == [["prep.batchnorm=True"]] and "crop" in bn["preps"] and bn["nets"] == ["deep", "shallow"]
    assert steps["cells"] == [[f"data.train_size={n}"] for n in (1250, 2500, 5000, 10000)]
    assert steps["cell_shapes"]["data.train_size=1250"]["trainer"]["steps"] == 2370
    resnet = other_grids["converged-resnet"]
    assert resnet["nets"] == ["resnet"] and resnet["preps"][:4] == ["none", "raw", "std", "crop"]
    assert resnet["cells"] == [["net.depth=8"], ["net.depth=14"], ["net.depth=20"]]
    assert gpu_plan.study_grid("converged")["cells"] == [[]]  # no other key swept: one cell
    assert all(g["seeds"] == [0, 1, 2, 3, 4] for g in other_grids.values())


def test_each_cell_is_sized_by_its_own_images_epochs_and_validations(other_grids):
    steps = other_grids["converged-scarce-steps"]
    cost = {
        n: gpu_plan.cell_cost(steps["cell_shapes"][f"data.train_size={n}"], COUNTS, [f"data.train_size={n}"])
        for n in (1250, 10000)
    }
    # 2,370 steps: 237 epochs of 10 steps at 1,250 images, validated every 79 steps (8 epochs) and at the end
    assert cost[1250] == {"train": 1250, "epochs": 237, "validations": 30}
    assert cost[10000] == {"train": 10000, "epochs": 30, "validations": 30}
    plan = gpu_plan.seeds_plan(_args(), MEASURED, 3000, COUNTS, steps, None)
    est = plan["job_seconds_estimate"]
    assert set(est) == {f"{net} data.train_size={n}" for net in ("deep", "shallow") for n in (1250, 2500, 5000, 10000)}
    common = dict(val=COUNTS["val"], test=COUNTS["test"])
    for n in (1250, 10000):
        expected = gpu_plan.job_seconds(_args(), MEASURED, "deep", **common, **cost[n])
        assert est[f"deep data.train_size={n}"] == pytest.approx(expected, abs=0.1)
    assert plan["seed_seconds_estimate"] == pytest.approx(2 * sum(est.values()), abs=1)


def test_a_cells_net_is_measured_as_that_net_and_its_jobs_carry_the_cell(other_grids):
    depth = other_grids["converged-depth"]
    measured = {
        gpu_plan.probe_key("deep", c): {"images_per_second": 10000 * d} for d, c in enumerate(depth["cells"], 1)
    }
    assert set(measured) == {"deep net.depth=1", "deep net.depth=3", "deep net.depth=4", "deep net.depth=6"}
    plan = gpu_plan.seeds_plan(_args(), measured, 1000, COUNTS, depth, None)
    est = plan["job_seconds_estimate"]
    assert est["deep net.depth=1"] > est["deep net.depth=6"]  # the faster measured net: the shorter job
    plan.update(experiment="converged-depth", preps=depth["preps"], nets=depth["nets"], cells=depth["cells"])
    plan.update(sizes={}, extra=[])
    jobs = gpu_plan.job_list(plan)
    assert len(jobs) == plan["seeds"] * 5 * 4
    assert [j["kind"] for j in jobs[:6]] == ["deep net.depth=1"] * 5 + ["deep net.depth=3"]
    overrides = gpu_plan.overrides_for(_args(), plan, jobs[5])
    assert overrides[:4] == ["experiment=converged-depth", "prep=none", "net=deep", "seed=0"]
    assert overrides[-1] == "net.depth=3"
    assert results.cell_of(overrides) == ["net.depth=3"]


def test_a_resumed_grid_counts_a_seed_whole_only_with_every_cell(other_grids):
    bn = other_grids["converged-bn"]
    cell = ["prep.batchnorm=True"]

    def jobs(seeds, cell):
        return [
            {"prep_choice": p, "net": n, "seed": s, "train_size": "10000", "status": "FINISHED", "cell": cell}
            for p in bn["preps"]
            for n in bn["nets"]
            for s in seeds
        ]

    without = jobs([0, 1], [])  # the main grid's runs of the same variants, without batch norm
    assert gpu_plan.finished_seeds(without, bn, None, COUNTS, 10)["grid"] == 0
    assert gpu_plan.finished_seeds(without + jobs([0, 1], cell), bn, None, COUNTS, 10)["grid"] == 2


@pytest.mark.parametrize(
    "experiment", ["converged-depth", "converged-bn", "converged-scarce-steps", "converged-resnet"]
)
def test_the_runner_takes_any_experiment_file_and_resumes_it(experiment, tmp_path):
    archive = tmp_path / f"{experiment}-gpu.tar.gz"
    archive.write_bytes(b"")
    args = cli.parse_args(["--experiment", experiment, "--resume", str(archive)])
    assert (args.max_seeds, args.probe_images) == (10, 2048)
    assert args.store == Path(f"/tmp/{experiment}-gpu")


def test_a_dry_run_caps_a_cells_training_images_and_trains_epochs_not_steps():
    sizes, extra, _ = gpu_plan.job_sizes("converged-scarce-steps", True, None)
    assert gpu_plan.tiny_cell(["data.train_size=10000", "net.depth=3"], sizes) == ["data.train_size=400", "net.depth=3"]
    assert {"trainer.steps=null", "trainer.warmup_steps=null", "++net.dense=8"} <= set(extra)
