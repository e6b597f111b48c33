"""prepbench.report.analysis on constructed runs with known answers (no MLflow, no I/O)."""

import numpy as np
import pytest

from prepbench.report import analysis, effects
from prepbench.report.select import Spec, select
from tests._report_runs import NOISE, curves, frame, grid

PREPS = ["none", "raw", "minmax", "samplewise", "std", "zca", "augment", "batchnorm"]


@pytest.fixture(scope="module")
def full():
    rows = grid(PREPS, failed={("minmax", "deep", 2)})
    sel = select(frame(rows), Spec())
    return analysis.analyse(sel, curves(rows), "study")


def pick(a, kind, variant, moderator, metric="test_accuracy"):
    r = a.row(metric, kind, variant, moderator)
    assert r is not None, (kind, variant, moderator, metric)
    return r


def test_a_variant_that_hurts_both_nets_the_shallow_more(full):
    r = pick(full, "interaction", "augment", "shallow - deep")
    assert r["mean"] == pytest.approx(-0.06)
    assert r["verdict"] == "hurts both, shallow more" and r["favours"] == "deep"
    # the old wording would have said "helps deep more" although it helps no net
    assert "helps" not in r["verdict"]
    assert pick(full, "benefit", "augment", "shallow")["verdict"] == "hurts"


def test_c3_is_the_benefit_of_scaling(full):
    """raw hurts both nets, the shallow one more: scaling (none − raw) helps both, the shallow more."""
    assert full.contrasts["raw"] == ("none", "raw")
    b = pick(full, "benefit", "raw", "shallow")
    assert b["mean"] == pytest.approx(0.20) and b["contrast"] == "none − raw on shallow" and b["verdict"] == "helps"
    r = pick(full, "interaction", "raw", "shallow - deep")
    assert r["mean"] == pytest.approx(0.15) and r["verdict"] == "helps both, shallow more"


def test_verdict_words_follow_both_signs(full):
    assert pick(full, "interaction", "zca", "shallow - deep")["verdict"] == "helps both, shallow more"
    assert pick(full, "interaction", "std", "shallow - deep")["verdict"] == "helps both; no detectable difference"
    assert (
        pick(full, "interaction", "batchnorm", "shallow - deep")["verdict"]
        == "helps deep; no detectable effect on shallow"
    )
    assert effects.interaction_verdict(0.05, 0.01, 0.05, "a", "b", "helps", "hurts") == "helps a, hurts b"
    assert effects.interaction_verdict(-0.05, 0.01, 0.05, "a", "b", "helps", "hurts").startswith(
        ("larger benefit on b", "helps", "hurts")
    )


def test_interactions_are_welch_with_the_paired_p_as_a_sensitivity_column(full):
    # the planted noise is +NOISE on shallow and -NOISE on deep: correlation -1, so Welch
    r = pick(full, "interaction", "zca", "shallow - deep")
    assert r["test"] == "Welch" and r["corr"] == pytest.approx(-1.0)
    sd = np.std(NOISE, ddof=1)
    assert r["se"] == pytest.approx(np.sqrt(2 * sd**2 / 6))
    assert r["df"] == pytest.approx(10.0)  # equal variances and sizes: 2(n-1)
    assert r["p_paired"] > r["p"]  # anticorrelated: the per-seed differences add the two noises up
    # positively correlated benefits (pairing removes the shared noise): still Welch
    rows = grid(["none", "zca"])
    for row in rows:
        if row["params.prep"] == "zca" and row["params.net"] == "deep":
            row["metrics.test_accuracy"] += 2 * NOISE[int(row["params.seed"])]  # deep now +NOISE as shallow
    a = analysis.analyse(select(frame(rows), Spec()), {}, "s")
    welch = pick(a, "interaction", "zca", "shallow - deep")
    assert welch["test"] == "Welch" and welch["corr"] == pytest.approx(1.0) and welch["n"] == 12
    assert welch["p_paired"] < welch["p"]


def test_holm_within_each_table_and_intervals_agree_with_it(full):
    e = full.effects
    for (metric, kind), fam in e.groupby(["metric", "kind"]):
        ok = fam[fam["p"].notna()]
        assert (ok["family_size"] == len(ok)).all()
        excludes = (ok["ci_low_holm"] > 0) | (ok["ci_high_holm"] < 0)
        assert (excludes == (ok["p_holm"] < 0.05)).all(), (metric, kind)
        directional = ok["verdict"].isin(["helps", "hurts"]) | ok["favours"].ne("")
        assert (directional == (ok["p_holm"] < 0.05)).all()


def test_early_benefit_is_compared_with_the_final_one_on_validation(full):
    early, final = "val_accuracy@epoch1", "val_accuracy@epoch4"
    assert [m.name for m in full.metrics] == ["test_accuracy", early, final]
    assert pick(full, "benefit", "samplewise", "deep", early)["mean"] == pytest.approx(0.06)
    assert pick(full, "benefit", "samplewise", "deep", early)["verdict"] == "helps"
    assert pick(full, "benefit", "samplewise", "deep", final)["verdict"] == "no detectable effect"


def test_failed_cell_and_summary(full):
    s = full.summary
    row = s[(s["variant"] == "minmax") & (s["moderator"] == "deep")].iloc[0]
    assert row["n"] == 5 and row["n_failed"] == 1
    assert pick(full, "interaction", "minmax", "shallow - deep")["n_b"] == 5
    assert any("prep=minmax net=deep seed=2" in c for c in full.missing_commands)


def test_accuracy_intervals_are_clipped_to_0_1():
    rows = grid(["none", "zca"], seeds=range(3))
    for r, acc in zip(rows, [0.001, 0.002, 0.05] * 4):
        r["metrics.test_accuracy"] = acc
    s = analysis.analyse(select(frame(rows), Spec()), {}, "s").summary
    assert (s["ci_low"] >= 0).all() and (s["ci_high"] <= 1).all()
    assert (s["ci_low"] == 0).any()


def test_resolution_columns(full):
    r = pick(full, "interaction", "zca", "shallow - deep")
    assert r["halfwidth"] == pytest.approx(r["ci_high"] - r["mean"])
    assert r["seeds_for_1pp"] >= r["seeds_for_2pp"] >= 2


def test_pairs_are_neighbours_then_extremes():
    assert analysis.pairs_for(["a", "b"]) == (("a", "b"),)
    assert analysis.pairs_for(["a", "b", "c"]) == (("a", "b"), ("b", "c"), ("a", "c"))


def test_a_seeds_plan_made_for_another_moderator_is_not_this_reports_resolution():
    from prepbench.report.analysis import plan_applies

    assert plan_applies({}, Spec()) and plan_applies({"moderator": "net"}, Spec())
    assert not plan_applies({}, Spec(moderator="data.train_size"))
    assert not plan_applies({"treatment": "prep", "baseline": "std", "moderator": "net"}, Spec())
    a = analysis.analyse(
        select(frame(grid(["none", "zca"])), Spec(moderator="net.depth")), {}, "s", {"halfwidth": 2}, {"zca": {}}
    )
    assert a.seeds_plan == {} and a.seeds_stops == {}


def depth_ladder():
    """A depth ladder of 4 levels, 5 seeds: `std`'s benefit falls with depth (H's shape), `minmax`'s is flat."""
    from tests._report_runs import job

    rng = np.random.default_rng(0)
    rows, k = [], 0
    for depth in (1, 2, 4, 8):
        for seed in range(5):
            base = 0.5 + 0.01 * seed
            falling = 0.06 - 0.015 * np.log2(depth) + 0.002 * rng.standard_normal()  # H's shape
            flat = 0.01 + 0.002 * rng.standard_normal()
            for prep, acc in (("none", base), ("std", base + falling), ("minmax", base + flat)):
                rows.append(job(prep, "deep", seed, depth=depth, acc=acc, start=k, overrides=(f"net.depth={depth}",)))
                k += 1
    return analysis.analyse(select(frame(rows), Spec(moderator="net.depth")), {}, "ladder")


def test_a_benefit_that_falls_with_depth_is_a_detected_trend_and_a_flat_one_is_not():
    a = depth_ladder()
    assert effects.doses(a.selection.moderators) == {"depth=1": 0, "depth=2": 1, "depth=4": 2, "depth=8": 3}
    std, minmax = pick(a, "trend", "std", "per doubling"), pick(a, "trend", "minmax", "per doubling")
    assert std["mean"] == pytest.approx(-0.015, abs=0.002) and std["n"] == 5 and std["family_size"] == 2
    assert std["verdict"] == "benefit falls with the dose" and minmax["verdict"] == "no trend detectable"
    assert effects.doses(["shallow", "deep", "x"]) is None and effects.doses(["depth=1", "depth=2"]) is None
    from prepbench.report import document
    from prepbench.report.figures import trend

    fig, name, caption = trend.draw(a)
    assert name == "trend" and "per doubling" in caption
    md = document.build(a, "runs", [], "python -m prepbench.report").markdown()
    assert "### Dose-response: the benefit per doubling of `net.depth` (tests H)" in md
    assert "**falls with depth (supports H)**" in md and "**no trend detectable at this resolution**" in md
    assert "(Holm):** `minmax`: no trend detectable at this resolution; `std`: falls with depth (supports H)." in md


def test_a_variant_run_at_some_depths_only_is_one_line_through_them_in_the_trend_figure():
    from prepbench.report.figures import trend
    from tests._report_runs import job

    rows = []
    for depth in (1, 2, 4, 8):
        for seed in range(5):
            base = 0.5 + 0.01 * seed
            accs = {"none": base, "std": base + 0.01 + 0.001 * seed * depth, "minmax": base + 0.02 + 0.001 * seed}
            for prep, acc in accs.items():
                if prep == "minmax" and depth not in (2, 8):
                    continue
                rows.append(
                    job(prep, "deep", seed, depth=depth, acc=acc, start=len(rows), overrides=(f"net.depth={depth}",))
                )
    fig, _, _ = trend.draw(analysis.analyse(select(frame(rows), Spec(moderator="net.depth")), {}, "ladder"))
    lines = {c.get_label().split(" (")[0]: c.lines[0] for ax in fig.axes for c in ax.containers}
    assert len(lines["std"].get_xdata()) == 4
    assert (
        len(lines["minmax"].get_xdata()) == 2
        and np.isfinite(np.asarray(lines["minmax"].get_ydata(), dtype=float)).all()
    )


def test_a_slope_that_rounds_to_zero_is_labelled_plus_zero_in_the_trend_figure():
    from prepbench.report.figures import trend
    from tests._report_runs import job

    rows = []
    for depth in (1, 2, 4, 8):
        for seed in range(5):
            base = 0.5 + 0.01 * seed
            accs = {"none": base, "std": base + 0.01 + 0.001 * seed - 1e-5 * np.log2(depth)}  # -0.001 pp a doubling
            for prep, acc in accs.items():
                rows.append(
                    job(prep, "deep", seed, depth=depth, acc=acc, start=len(rows), overrides=(f"net.depth={depth}",))
                )
    fig, _, _ = trend.draw(analysis.analyse(select(frame(rows), Spec(moderator="net.depth")), {}, "ladder"))
    assert [c.get_label() for ax in fig.axes for c in ax.containers] == ["std (+0.00 pp per doubling)"]


def test_a_ladder_report_leads_its_brief_with_the_dose_response_then_the_pairs_of_levels():
    """The dose-response is the ladder's test fixed before the runs: the brief opens with it, then
    the neighbouring levels in order, then the extremes."""
    from prepbench.report import document

    md = document.build(depth_ladder(), "runs", [], "python -m prepbench.report").markdown()
    brief = md.split("**In brief**", 1)[1].split("\n\n", 2)[1].splitlines()
    assert brief[0].startswith("- **Dose-response over `net.depth` (the test fixed before the runs)")
    pairs = ["depth=1 vs depth=2", "depth=2 vs depth=4", "depth=4 vs depth=8", "depth=1 vs depth=8"]
    assert [line.split(",", 1)[0] for line in brief[1:]] == [f"- **{pair}" for pair in pairs]


def test_augmentations_benefit_falling_as_the_training_set_grows_is_read_as_support_for_c1():
    """Along data.train_size the dose-response is C1's test for `augment` (helps when data is scarce),
    not H's; another variant's trend keeps the plain verdict."""
    from prepbench.report import document
    from tests._report_runs import job

    rng = np.random.default_rng(1)
    rows, k = [], 0
    for size in (1250, 2500, 5000, 10000):
        for seed in range(5):
            base = 0.5 + 0.01 * seed
            scarce = 0.06 - 0.02 * np.log2(size / 1250) + 0.002 * rng.standard_normal()
            flat = 0.01 + 0.002 * rng.standard_normal()
            for prep, acc in (("none", base), ("augment", base + scarce), ("std", base + flat)):
                params = {"data.train_size": size, "trainer.steps": 64}
                overrides = (f"data.train_size={size}", "trainer.steps=64")
                rows.append(job(prep, "deep", seed, acc=acc, start=k, params=params, overrides=overrides))
                k += 1
    a = analysis.analyse(select(frame(rows), Spec(moderator="data.train_size")), {}, "ladder")
    assert pick(a, "trend", "augment", "per doubling")["verdict"] == "benefit falls with the dose"
    md = document.build(a, "runs", [], "python -m prepbench.report").markdown()
    assert "### Dose-response: the benefit per doubling of `data.train_size` (tests C1)" in md
    assert "C1 predicts a negative slope for augmentation" in md
    assert "`augment`: falls as the training set grows (supports C1: helps more when data is scarce)" in md
    assert "`std`: no trend detectable" in md and "(supports H)" not in md


def test_a_variant_whose_benefits_dwarf_the_others_gets_its_own_panel_of_the_trend_figure():
    from prepbench.report.figures.trend import panels

    # the depth ladder's scales (pp): scaling's +46 would flatten the rest into one line
    assert panels({"raw": 62.0, "std": 4.8, "zca": 3.1, "augment": 6.7}) == [["raw"], ["std", "zca", "augment"]]
    assert panels({"std": 4.8, "zca": 3.1, "augment": 6.7}) == [["std", "zca", "augment"]]
    assert panels({"a": 30.0, "b": 20.0, "c": 1.0}) == [["a", "b"], ["c"]]
    assert panels({"a": 0.0, "b": 0.0}) == [["a", "b"]]


def test_a_ladder_at_fixed_steps_reads_each_run_at_its_own_last_epoch():
    """trainer.steps: 1,000 images train 8 epochs and 2,000 train 4, the same steps; no epoch is
    common to them, so the final validation accuracy is each run's own last and there is no
    early-epoch benefit (not a mid-training value of the longer runs labelled "the last")."""
    from prepbench.report import document
    from tests._report_runs import job

    rows, k = [], 0
    for size, epochs in ((1000, 8), (2000, 4)):
        for seed in range(4):
            for prep in ("none", "augment"):
                r = job(
                    prep,
                    "deep",
                    seed,
                    epochs=30,
                    start=k,
                    params={"data.train_size": size, "trainer.steps": 64},
                    overrides=(f"data.train_size={size}", "trainer.steps=64"),
                )
                r["tags.prepbench.epochs"] = str(epochs)
                r["curve"] = [r["metrics.test_accuracy"] - 0.02 * (epochs - e) for e in range(1, epochs + 1)]
                r["metrics.val_accuracy"] = r["curve"][-1]
                rows.append(r)
                k += 1
    a = analysis.analyse(select(frame(rows), Spec(moderator="data.train_size")), curves(rows), "ladder")
    assert a.epochs is None and a.early is None
    assert [m.name for m in a.metrics] == ["test_accuracy", "val_accuracy@last"]
    finals = dict(zip(a.cells["run_id"], a.cells["val_final"]))
    assert all(finals[r["run_id"]] == pytest.approx(r["curve"][-1]) for r in rows)
    md = document.build(a, "runs", [], "python -m prepbench.report").markdown()
    assert "training: 64 optimizer steps (the epochs differ with the training images)" in md
    assert "val. @ the last epoch" in md and "epoch None" not in md and "@ epoch 30" not in md
