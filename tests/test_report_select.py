"""prepbench.report.select and .commands: which runs enter a report, and as which cell."""

import pytest

from prepbench.errors import PrepbenchError
from prepbench.report import analysis
from prepbench.report.commands import commands_for
from prepbench.report.select import Spec, canonical, select
from tests._report_runs import frame, grid, job


def test_canonical_compares_numbers_by_value():
    assert canonical("1e-6") == canonical("1e-06") == canonical(1e-6)
    assert canonical("2500") == canonical("2500.0") and canonical("None") == canonical("null") == "null"
    assert canonical("shallow") == "shallow"
    assert canonical("false") == canonical("False") == canonical(False) and canonical("true") == canonical(True)


def test_a_zca_epsilon_row_stands_beside_zca_and_replaces_nothing():
    rows = grid(["none", "zca"], seeds=range(3), params={"prep.zca_epsilon": "1e-06"})
    rows = [r for r in rows if r["params.prep"] == "zca"] + grid(["none"], seeds=range(3))
    eps = grid(["zca"], seeds=range(3), params={"prep.zca_epsilon": "0.1"}, overrides=("prep.zca_epsilon=0.1",))
    for r in eps:
        r["start_time"] += 1000  # newer: the old keying by (prep, net, seed) would replace zca with it
        r["metrics.test_accuracy"] += 0.03
    sel = select(frame(rows + eps), Spec())
    assert sel.variants == ("none", "zca", "zca (ε=0.1)")
    assert sel.runs["superseded_by"].isna().all()
    done = sel.cells[sel.cells["status"] == "FINISHED"]
    assert done.groupby("variant").size().to_dict() == {"none": 6, "zca": 6, "zca (ε=0.1)": 6}
    a = analysis.analyse(sel, {}, "s")
    gap = (
        a.row("test_accuracy", "benefit", "zca (ε=0.1)", "shallow")["mean"]
        - a.row("test_accuracy", "benefit", "zca", "shallow")["mean"]
    )
    assert gap == pytest.approx(0.03)
    # a command for the epsilon row runs it as itself
    cmd = commands_for([("zca (ε=0.1)", "deep", 7)], sel, "s")
    assert cmd == [
        "python -m prepbench -m prep=zca net=deep seed=7 prep.zca_epsilon=0.1 data=folder "
        "data.path=/x.zip trainer.epochs=4 study=s"
    ]


def test_runs_without_a_newer_setting_are_superseded_by_runs_with_it():
    base = grid(["none", "batchnorm"], seeds=range(3))
    old = [r for r in base if r["params.prep"] == "batchnorm"]  # trained before batchnorm_momentum existed
    new = grid(["batchnorm"], seeds=range(3), params={"prep.batchnorm_momentum": "0.9"})
    other = grid(["batchnorm"], seeds=range(3), params={"prep.batchnorm_momentum": "0.5"})
    for k, r in enumerate(new + other):
        r["start_time"] = 1000 + k
    rerun = job("none", "shallow", 0, start=5000)  # the same settings again: replaces the first
    sel = select(frame(base + new + other + [rerun]), Spec())
    sup = sel.runs[sel.runs["superseded_by"].notna()]
    assert len(sup) == len(old) + 1
    assert set(sup["run_id"]) == {r["run_id"] for r in old} | {base[0]["run_id"]}
    assert set(sel.runs.loc[sup.index, "left_out"]) == {"superseded"}
    # the old runs are replaced by the newest run that agrees with them: momentum 0.5 came last
    assert set(sup.loc[sup["params.prep"] == "batchnorm", "superseded_by"]) <= {r["run_id"] for r in other}
    assert sel.variants == ("none", "batchnorm", "batchnorm (momentum=0.5)")


def test_the_main_report_uses_the_most_common_context_and_names_the_rest():
    main_grid = grid(["none", "zca", "augment"])
    ladder = grid(
        ["none", "augment"],
        seeds=range(3),
        params={"data.train_size": 250},
        overrides=("data.train_size=250",),
        fingerprint="fp-250",  # other training images: another fingerprint
    )
    sel = select(frame(main_grid + ladder), Spec())
    assert dict(sel.context) == {"data.train_size": "1000", "data_fingerprint": "fp-abc"}
    assert sel.left_out == (("data.train_size=250, data_fingerprint=fp-250", len(ladder)),)
    assert set(sel.cells["seed"]) == set(range(6))
    scarce = select(frame(main_grid + ladder), Spec(where=(("data.train_size", ("250",)),)))
    assert scarce.variants == ("none", "augment") and scarce.context == ()
    assert dict(scarce.left_out) == {"data.train_size=1000 (--where)": len(main_grid)}
    # the data-size ladder as a moderator: both sizes, per net (net is now a context)
    ladder_m = select(
        frame(main_grid + ladder), Spec(moderator="data.train_size", where=(("prep", ("none", "augment")),))
    )
    assert ladder_m.moderators == ("train_size=250", "train_size=1000")  # not split by their fingerprints
    assert dict(ladder_m.context)["net"] in ("shallow", "deep")
    assert set(ladder_m.cells.query("status == 'FINISHED'")["moderator"]) == set(ladder_m.moderators)


def test_a_moderator_with_three_levels():
    rows = grid(["none", "samplewise"], nets=("depth1", "depth2", "depth4"), seeds=range(4))
    for r in rows:
        d = int(r["params.net"][5:])
        r["params.net.depth"] = str(d)
        r["params.net.name"] = r["params.net"]
        r["tags.prepbench.overrides"] = r["tags.prepbench.overrides"].replace(
            f'"net={r["params.net"]}"', f'"net.depth={d}"'
        )
    for moderator, levels in (
        ("net", ("depth1", "depth2", "depth4")),
        ("net.depth", ("depth=1", "depth=2", "depth=4")),
    ):
        sel = select(frame(rows), Spec(moderator=moderator))
        assert sel.moderators == levels and sel.context == ()
        a = analysis.analyse(sel, {}, "ladder")
        inter = a.table("test_accuracy", "interaction")
        assert list(inter["moderator"]) == [
            f"{levels[0]} - {levels[1]}",
            f"{levels[1]} - {levels[2]}",
            f"{levels[0]} - {levels[2]}",
        ]
        assert inter["mean"].abs().max() < 1e-9  # the planted benefit is 0 on every "shallow" depth
        cmd = commands_for([("samplewise", levels[2], 9)], sel, "ladder")[0]
        assert "net.depth=4" in cmd and "net=depth4" not in cmd, cmd


def test_another_treatment_and_baseline():
    rows = [r for r in grid(["zca"], seeds=range(3), params={"prep.zca_epsilon": "1e-06"})]
    rows += grid(["zca"], seeds=range(3), params={"prep.zca_epsilon": "0.1"}, overrides=("prep.zca_epsilon=0.1",))
    rows += grid(["none"], seeds=range(3))
    sel = select(frame(rows), Spec(treatment="prep.zca_epsilon", baseline="1e-6"))
    assert sel.variants == ("zca_epsilon=1e-06", "zca_epsilon=0.1") and sel.baseline == "zca_epsilon=1e-06"
    assert dict(sel.left_out) == {"no prep.zca_epsilon setting": 6}


def test_bad_factors_are_one_line():
    rows = frame(grid(["none", "zca"], seeds=range(2)))
    with pytest.raises(
        PrepbenchError, match=r"--moderator net\.colour is not a setting of these runs; expected one of .*prep"
    ):
        select(rows, Spec(moderator="net.colour"))
    with pytest.raises(PrepbenchError, match="--where data.size=1 names no setting"):
        select(rows, Spec(where=(("data.size", ("1",)),)))
    with pytest.raises(PrepbenchError, match="no run is left"):
        select(rows, Spec(where=(("data.train_size", ("7",)),)))


def test_where_a_job_ran_does_not_split_a_study():
    """`device` is logged beside the config, not part of it, and steps_per_execution changes only the
    speed: runs logged before such params existed (none) and runs on another device or with other
    steps per execution count as the same cells, as the sweep's resume counts them."""
    old = grid(["none", "zca"], seeds=range(2))  # no device param
    new = grid(["zca"], seeds=range(2, 4), params={"device": "CPU", "trainer.steps_per_execution": "8"})
    new += grid(
        ["none"], seeds=range(2, 4), params={"device": "GPU:0 (NVIDIA H200)", "trainer.steps_per_execution": "1"}
    )
    sel = select(frame(old + new), Spec())
    assert (sel.runs["left_out"] == "").all()
    done = sel.cells[sel.cells["status"] == "FINISHED"]
    assert done.groupby("variant").size().to_dict() == {"none": 8, "zca": 8}


def test_where_a_conf_option_selects_its_settings_exactly_and_its_row_is_named_by_them():
    """zca_shrunk's runs are named `zca`: `--where prep=zca` keeps every ZCA row, `prep=zca_shrunk`
    only the runs with that option's settings, and the row still says what it is (`s=1.0`)."""
    zca = {"prep.zca_epsilon": "1e-06", "prep.zca_retain": "None", "prep.zca_fit_images": "None", "prep.gcn": "None"}
    memo = grid(["zca"], seeds=range(3), params={"prep.zca_shrinkage": "0.0", **zca})
    shrunk = grid(["zca"], seeds=range(3), params={"prep.zca_shrinkage": "1.0", **zca})
    kept = grid(["zca"], seeds=range(3), params={"prep.zca_shrinkage": "1.0", **zca, "prep.zca_retain": "0.99"})
    runs = frame(grid(["none"], seeds=range(3)) + memo + shrunk + kept)

    every = select(runs, Spec(where=(("prep", ("none", "zca")),)))
    assert every.variants == ("none", "zca", "zca (s=1.0)", "zca (s=1.0, keep=0.99)")
    exact = select(runs, Spec(where=(("prep", ("none", "zca_shrunk")),)))
    assert exact.variants == ("none", "zca (s=1.0)")
    assert set(exact.runs["left_out"]) == {"", "prep=zca, not the settings of zca_shrunk (--where)"}
    chosen = exact.runs[exact.runs["left_out"] == ""]
    assert set(chosen["run_id"]) == {r["run_id"] for r in shrunk} | set(
        exact.runs.loc[exact.runs["params.prep"] == "none", "run_id"]
    )


def test_a_moderator_of_the_treatments_group_keeps_the_variants_whole():
    """`--moderator prep.batchnorm`: the levels are batch norm off and on, not one level per variant;
    the momentum that only batch-norm runs record follows the level instead of splitting the rows;
    and `--where prep=zca_shrunk` still finds that option's runs on the batch-norm level."""
    zca = {"prep.zca_epsilon": "1e-06", "prep.zca_retain": "None", "prep.zca_fit_images": "None", "prep.gcn": "None"}
    off = {"prep.batchnorm": "False"}
    on = {"prep.batchnorm": "True", "prep.batchnorm_momentum": "0.9"}
    rows = []
    for level in (off, on):
        rows += grid(["none", "raw"], nets=("shallow",), seeds=range(3), params=level)
        rows += grid(["zca"], nets=("shallow",), seeds=range(3), params={**level, **zca, "prep.zca_shrinkage": "1.0"})
    rows += grid(["zca"], nets=("shallow",), seeds=range(3), params={**off, **zca, "prep.zca_shrinkage": "0.0"})
    for k, r in enumerate(rows):
        r["start_time"] = k  # distinct runs: nothing supersedes another

    sel = select(frame(rows), Spec(moderator="prep.batchnorm", where=(("prep", ("none", "raw", "zca_shrunk")),)))
    assert sel.moderators == ("batchnorm=False", "batchnorm=True")
    assert sel.variants == ("none", "raw", "zca (s=1.0)")
    done = sel.cells[sel.cells["status"] == "FINISHED"]
    assert done.groupby(["variant", "moderator"]).size().to_dict() == {
        (v, m): 3 for v in sel.variants for m in sel.moderators
    }
    memo = sel.runs[sel.runs["params.prep.zca_shrinkage"] == "0.0"]
    assert set(memo["left_out"]) == {"prep=zca, not the settings of zca_shrunk (--where)"}


def test_exact_options_leave_out_a_variant_run_with_batch_norm_added():
    """--exact-options: `--where prep=none,raw` selects those options' settings exactly, so the
    batch-norm crossing's `raw` (named raw, prep.batchnorm=true) stays out of a report of the main
    grid, while the `batchnorm` option's own runs (batch norm is its setting) stay in."""
    off = {"prep.batchnorm": "False"}
    on = {"prep.batchnorm": "True", "prep.batchnorm_momentum": "0.9"}
    rows = grid(["none", "raw"], nets=("shallow",), seeds=range(3), params=off)
    rows += grid(["batchnorm"], nets=("shallow",), seeds=range(3), params={**on, "prep.normalization": "none"})
    crossing = grid(["raw"], nets=("shallow",), seeds=range(3), params=on)
    for k, r in enumerate(rows + crossing):
        r["start_time"] = k
    runs = frame(rows + crossing)
    where = (("prep", ("none", "raw", "batchnorm")),)

    loose = select(runs, Spec(where=where))
    assert "raw (batchnorm=True, momentum=0.9)" in loose.variants
    exact = select(runs, Spec(where=where, exact_options=True))
    assert exact.variants == ("none", "raw", "batchnorm")
    left = exact.runs[exact.runs["run_id"].isin([r["run_id"] for r in crossing])]
    assert set(left["left_out"]) == {"prep=raw, not the settings of raw (--where)"}
