"""The report end to end: constructed runs written to a temporary MLflow store with the schema
prepbench.track.tracking writes, read back by `python -m prepbench.report`'s main()."""

import subprocess
import sys

import pandas as pd
import pytest

from prepbench import ROOT
from prepbench.report import data_name, default_tracking_uri, main
from tests._report_runs import grid, job, log

PREPS = ["none", "raw", "minmax", "samplewise", "std", "zca", "batchnorm"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    return uri, MlflowClient(uri), root


@pytest.fixture(scope="module")
def full(store, tmp_path_factory):
    rows = grid(PREPS, failed={("minmax", "deep", 2)})
    rerun = job("std", "deep", 1, start=10_000)  # the same settings again: supersedes the first
    parent = log(store[1], store[2], "full", rows + [rerun])
    out = tmp_path_factory.mktemp("report")
    assert main(["--experiment", "full", "--tracking-uri", store[0], "--out", str(out)]) == 0
    return out, parent


def _effects(out):
    return pd.read_csv(out / "effects.csv", keep_default_na=False, na_values=[""])


def _pick(e, kind, variant, moderator, metric="test_accuracy"):
    sub = e[(e["kind"] == kind) & (e["variant"] == variant) & (e["moderator"] == moderator) & (e["metric"] == metric)]
    assert len(sub) == 1, sub
    return sub.iloc[0]


def test_planted_effects_are_found_and_worded_from_both_signs(full):
    out, _ = full
    e = _effects(out)
    zca = _pick(e, "interaction", "zca", "shallow - deep")
    assert zca["mean"] == pytest.approx(0.04) and zca["test"] == "Welch" and zca["n"] == 12
    assert zca["verdict"] == "helps both, shallow more" and zca["p_holm"] < 0.05 < zca["family_size"]
    raw = _pick(e, "interaction", "raw", "shallow - deep")
    assert raw["contrast"] == "(none − raw) on shallow minus on deep" and raw["verdict"] == "helps both, shallow more"
    assert e["p_holm"].notna().any() and {"ci_low_holm", "ci_high_holm", "level_holm", "corr"} <= set(e.columns)
    md = (out / "report.md").read_text()
    assert "H is supported for `raw` (helps both, shallow more), `zca` (helps both, shallow more)" in md
    assert "scaling: `none` − `raw`" in md and "Welch (df" in md


def test_report_files_order_and_artifact(full, store):
    out, parent = full
    md = (out / "report.md").read_text()
    heads = [
        md.index(h)
        for h in (
            "1. The question",
            "2. Setup",
            "3. Results",
            "4. Resolution",
            "5. Verdicts",
            "6. Caveats",
            "7. Reproducibility",
        )
    ]
    assert heads == sorted(heads)
    for word in (
        "abc1234",
        "fp-abc",
        "python -m prepbench -m study=full",
        "2 CPU cores",
        "tensorflow",
        "python -m prepbench prep=none net=shallow seed=0",
        "Bouthillier",
        "Holm",
        "seeds for ±2 pp",
        "**What this study can rule out** (family-wise",
        "**FAILED**",
        "OOM in epoch 2",
        "prep=minmax net=deep seed=2",
        "1 run(s) superseded",
        f"{len(PREPS) * 2 * 6 - 1} cells analysed",  # one cell FAILED; the superseded run is not a cell
        f"out of {len(PREPS) * 2 * 6 + 1} job runs",
        "Their code: 1 commit(s), 0 of",
        "training-code version 1",
        "0 of 6 interactions on the other side",
    ):
        assert word in md, word
    assert "( seeds)" not in md and "(seeds)" not in md
    figs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figs == ["accuracy.png", "benefit.png", "curves.png", "interaction.png"]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and 'src="figures' not in page
    arts = [a.path for a in store[1].list_artifacts(parent, "report")]
    assert "report/report.md" in arts and "report/effects.csv" in arts


def test_the_store_tags_what_the_report_left_out_as_superseded(full, store):
    runs = pd.read_csv(full[0] / "runs.csv")
    old, new = runs.loc[runs["superseded"], ["run_id", "superseded_by"]].iloc[0]
    assert store[1].get_run(old).data.tags["prepbench.superseded_by"] == new
    assert "prepbench.superseded_by" not in store[1].get_run(new).data.tags


def test_runs_csv_marks_superseded_runs_and_recomputes_the_same_effects(full, tmp_path):
    out, _ = full
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == len(PREPS) * 2 * 6 + 1 and (runs["status"] == "FAILED").sum() == 1
    assert runs["superseded"].sum() == 1 and runs.loc[runs["superseded"], "left_out"].item() == "superseded"
    assert {"variant", "moderator", "seed", "superseded_by", "params.trainer.epochs", "tags.prepbench.command"} <= set(
        runs.columns
    )
    assert main(["--runs-csv", str(out / "runs.csv"), "--out", str(tmp_path)]) == 0
    again, first = _effects(tmp_path), _effects(out)
    keep = first["metric"] != "val_accuracy@epoch1"  # curves are not in runs.csv
    cols = ["metric", "kind", "variant", "moderator", "mean", "p", "p_holm", "ci_low_holm", "verdict"]
    pd.testing.assert_frame_equal(again[cols].reset_index(drop=True), first.loc[keep, cols].reset_index(drop=True))
    # the deeper net's reading needs curves: a runs.csv has none (its runs trained the same epochs)
    text = (tmp_path / "report.md").read_text()
    assert "not measured (no learning curves)" in text and "trained different epochs" not in text


def test_missing_baseline_says_so_and_prints_the_command(store, tmp_path):
    log(store[1], store[2], "nobase", grid(["zca", "std"], seeds=range(3), epochs=2))
    assert (
        main(["--experiment", "nobase", "--tracking-uri", store[0], "--out", str(tmp_path / "a"), "--no-log-artifact"])
        == 0
    )
    md = (tmp_path / "a" / "report.md").read_text()
    assert "Baseline missing" in md and "( seeds)" not in md
    assert (
        "python -m prepbench -m prep=none net=shallow,deep seed=0,1,2 data=folder data.path=/x.zip "
        "trainer.epochs=2 study=nobase"
    ) in md
    assert (_effects(tmp_path / "a")["verdict"] == "not enough seeds").all()
    log(
        store[1],
        store[2],
        "partial",
        grid(["none", "zca"], seeds=range(3), epochs=2, skip={("none", "deep", 1), ("none", "deep", 2)}),
    )
    main(["--experiment", "partial", "--tracking-uri", store[0], "--out", str(tmp_path / "b"), "--no-log-artifact"])
    md = (tmp_path / "b" / "report.md").read_text()
    assert "deep seed 1, deep seed 2" in md
    assert "python -m prepbench -m prep=none net=deep seed=1,2 data=folder" in md and "net=shallow,deep" not in md


def test_unlike_runs_are_never_pooled(store, tmp_path):
    log(store[1], store[2], "mixed", grid(["none", "zca"], seeds=range(3), epochs=2, overrides=("trainer.epochs=2",)))
    log(store[1], store[2], "mixed", grid(["none", "zca"], seeds=range(4), epochs=4))
    main(["--experiment", "mixed", "--tracking-uri", store[0], "--out", str(tmp_path / "m"), "--no-log-artifact"])
    s = pd.read_csv(tmp_path / "m" / "summary.csv")
    assert (s["n"] == 4).all()  # the 4-epoch runs, never 3 + 4
    md = (tmp_path / "m" / "report.md").read_text()
    assert "12 run(s) left out with trainer.epochs=2" in md and "--where trainer.epochs=2" in md
    main(
        [
            "--experiment",
            "mixed",
            "--tracking-uri",
            store[0],
            "--out",
            str(tmp_path / "w"),
            "--no-log-artifact",
            "--where",
            "trainer.epochs=2",
        ]
    )
    assert (pd.read_csv(tmp_path / "w" / "summary.csv")["n"] == 3).all()


def test_moderator_flag_and_treatment_needs_a_baseline(full, store, tmp_path, capsys):
    main(
        [
            "--experiment",
            "full",
            "--tracking-uri",
            store[0],
            "--out",
            str(tmp_path),
            "--no-log-artifact",
            "--moderator",
            "net.depth",
        ]
    )
    assert set(pd.read_csv(tmp_path / "summary.csv")["moderator"]) == {"depth=2", "depth=8"}
    assert (
        main(["--experiment", "full", "--tracking-uri", store[0], "--out", str(tmp_path), "--treatment", "trainer.lr"])
        == 2
    )
    assert capsys.readouterr().err.startswith("error: --treatment trainer.lr needs --baseline VALUE")


def test_errors_are_one_line_exit_2(store, tmp_path, capsys):
    assert main(["--experiment", "nope", "--tracking-uri", store[0], "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no MLflow experiment named 'nope'") and err.count("\n") == 1
    store[1].create_experiment("empty", artifact_location=str(store[2] / "empty"))
    assert main(["--experiment", "empty", "--tracking-uri", store[0], "--out", str(tmp_path)]) == 2
    assert "no job runs" in capsys.readouterr().err
    missing = tmp_path / "absent.db"
    assert main(["--experiment", "x", "--tracking-uri", f"sqlite:///{missing}", "--out", str(tmp_path)]) == 2
    assert "no MLflow store at" in capsys.readouterr().err and not missing.exists()
    assert main(["--runs-csv", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_level_flag_changes_the_intervals(full, store, tmp_path):
    out, _ = full
    main(
        [
            "--experiment",
            "full",
            "--tracking-uri",
            store[0],
            "--out",
            str(tmp_path),
            "--level",
            "0.8",
            "--no-log-artifact",
        ]
    )
    wide, narrow = (
        _pick(_effects(out), "interaction", "zca", "shallow - deep"),
        _pick(_effects(tmp_path), "interaction", "zca", "shallow - deep"),
    )
    assert narrow["level"] == 0.8 and narrow["ci_high"] - narrow["ci_low"] < wide["ci_high"] - wide["ci_low"]
    assert "per-comparison 80% intervals" in (tmp_path / "report.md").read_text()


def test_report_links_the_dashboard_views_of_its_store(full, store):
    import json
    import urllib.parse

    out, _ = full
    md = (out / "report.md").read_text()
    assert f"`python -m prepbench.ui full tracking.uri={store[0]}`" in md  # not the study's own store
    runs_url = md.split("[runs table](")[1].split(")")[0]
    assert "viewStateShareKey=prepbench" in runs_url and "workflowType=machine_learning" in runs_url
    compare_url = md.split("runs analysed](")[1].split(")")[0]
    shown = json.loads(urllib.parse.parse_qs(compare_url.split("?", 1)[1])["runs"][0])
    finished = store[1].search_runs(
        [store[1].get_experiment_by_name("full").experiment_id],
        "tags.`prepbench.role` = 'job' and attributes.status = 'FINISHED'",
    )
    current = [r.info.run_id for r in finished if "prepbench.superseded_by" not in r.data.tags]
    assert sorted(shown) == sorted(current) and len(current) == len(finished) - 1  # not the superseded run
    assert f'<a href="{runs_url.replace("&", "&amp;")}">runs table</a>' in (out / "report.html").read_text()


def test_a_where_report_compares_only_the_runs_it_analysed(full, store, tmp_path):
    import json
    import urllib.parse

    args = ["--experiment", "full", "--tracking-uri", store[0], "--where", "seed=0", "--no-log-artifact"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    compare_url = md.split("runs analysed](")[1].split(")")[0]
    shown = json.loads(urllib.parse.parse_qs(compare_url.split("?", 1)[1])["runs"][0])
    cells = pd.read_csv(tmp_path / "runs.csv")
    analysed = cells[(cells["left_out"].isna()) & (cells["status"] == "FINISHED")]["run_id"]
    assert analysed.size and sorted(shown) == sorted(analysed)
    assert set(cells.loc[cells["run_id"].isin(shown), "seed"]) == {0}
    assert f"comparison of the {len(shown)} runs analysed" in md


def test_runs_csv_reports_name_no_dashboard(full, tmp_path):
    assert main(["--runs-csv", str(full[0] / "runs.csv"), "--out", str(tmp_path)]) == 0
    assert "prepbench.ui" not in (tmp_path / "report.md").read_text()


def test_default_store_comes_from_conf():
    assert default_tracking_uri() == f"sqlite:///{ROOT}/results/mlflow.db"
    assert default_tracking_uri("cpu") == f"sqlite:///{ROOT}/results/cpu/mlflow.db"  # the study's own store
    assert default_tracking_uri("an-adhoc-sweep") == f"sqlite:///{ROOT}/results/mlflow.db"


def test_does_not_import_tensorflow():
    code = "import sys, prepbench.report.driver; assert 'tensorflow' not in sys.modules; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.strip() == "ok", r.stderr


def test_results_on_the_jpeg_copy_say_so():
    assert "CIFAR-10 (JPEG q75 copy)" in data_name("folder", "../shared/data/cifar10-jpeg.zip")
    assert data_name("cifar10", "null") == "CIFAR-10 (official release)"
    assert "JPEG" not in data_name("folder", "/my/photos.zip")


def test_a_refined_row_is_listed_under_its_preps_claim():
    """`zca (ε=0.1)` (prep=zca_reg) tests C5 as `zca` does: in the headline and in the claims table."""
    from prepbench.report import analysis, document
    from prepbench.report.select import Spec, select
    from tests._report_runs import frame

    rows = grid(["none", "zca"], seeds=range(3))
    rows += grid(["zca"], seeds=range(3), params={"prep.zca_epsilon": "0.1"}, overrides=("prep.zca_epsilon=0.1",))
    a = analysis.analyse(select(frame(rows), Spec()), {}, "s")
    text = document.build(a, "a test", [], "cmd").markdown()
    headline = text.split("### Headline", 1)[1].split("###", 1)[0]
    assert "| `zca (ε=0.1)` | C5 |" in headline
    claims_table = text.split("### The memo's claims", 1)[1]
    assert "| C5 | `zca (ε=0.1)` − `none` | shallow |" in claims_table
    assert "not run" not in claims_table.split("| C6 |", 1)[0].split("| C5 |", 1)[1]


def test_the_setup_names_every_size_of_a_data_size_moderator():
    """`--moderator data.train_size` (the scarcity ladder): the setup lists both sizes, not the last run's."""
    from prepbench.report import analysis, document
    from prepbench.report.select import Spec, select
    from tests._report_runs import frame

    rows = grid(["none", "augment"], seeds=range(3), params={"data.train_size": 1000})
    rows += grid(
        ["none", "augment"],
        seeds=range(3),
        params={"data.train_size": 250},
        overrides=("data.train_size=250",),
        fingerprint="fp-250",
    )
    spec = Spec(moderator="data.train_size", where=(("net", ("deep",)),))
    text = document.build(analysis.analyse(select(frame(rows), spec), {}, "s"), "a test", [], "cmd").markdown()
    assert "train_size 250 and 1000 (the moderator), val_size" in text


def test_the_setup_asks_for_no_steps_where_trainer_steps_is_unset_whichever_way_it_was_logged():
    """Older runs log an unset trainer.steps as None, newer ones as null: neither is a step count."""
    from prepbench.report import analysis, document
    from prepbench.report.select import Spec, select
    from tests._report_runs import frame

    def training_line(*logged):
        rows = [
            r
            for seed, steps in enumerate(logged)
            for r in grid(["none", "zca"], seeds=[seed], params={"trainer.steps": steps})
        ]
        a = analysis.analyse(select(frame(rows), Spec()), {}, "s")
        return next(line for line in document.build(a, "t", [], "cmd").markdown().splitlines() if "- training:" in line)

    assert "- training: 4 epochs, batch" in training_line("null", "None", "null")
    assert "- training: 4 epochs (64 steps asked for), batch" in training_line("64", "64")


def test_a_verification_beside_the_report_is_cited_with_its_verdicts(full, tmp_path):
    from prepbench.study import verify

    outcomes = [
        verify.Outcome("a" * 32, "none · deep · seed 0", "abc", 0.6, [0.6, 0.6]),
        verify.Outcome("b" * 32, "zca · deep · seed 1", "abc-dirty", 0.5, [], refused="recorded commit abc-dirty…"),
    ]
    (tmp_path / "verify.md").write_text(verify.document(outcomes, "full", "python -m prepbench.verify").markdown())
    assert main(["--runs-csv", str(full[0] / "runs.csv"), "--out", str(tmp_path)]) == 0
    assert "- [verify.md](verify.md): 1 within tolerance, 1 refused" in (tmp_path / "report.md").read_text()
