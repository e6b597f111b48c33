import pandas as pd
import pytest

from prepbench.errors import PrepbenchError
from prepbench.study.compare import paired_differences


def runs(rows):
    """rows: (prep, net, seed, precision, accuracy, start_time)."""
    return pd.DataFrame(
        [
            {
                "params.prep": p,
                "params.net": n,
                "params.seed": str(s),
                "params.trainer.precision": k,
                "test_accuracy": acc,
                "start_time": t,
            }
            for p, n, s, k, acc, t in rows
        ]
    ).sort_values("start_time", ascending=False)


def test_differences_are_paired_by_seed_per_cell_in_points():
    table = paired_differences(
        runs(
            [
                ("none", "deep", 0, "float32", 0.50, 1),
                ("none", "deep", 0, "bfloat16", 0.52, 2),
                ("none", "deep", 1, "float32", 0.40, 3),
                ("none", "deep", 1, "bfloat16", 0.43, 4),
                ("zca", "deep", 0, "float32", 0.30, 5),
                ("zca", "deep", 0, "bfloat16", 0.29, 6),
                ("zca", "deep", 1, "float32", 0.31, 7),  # seed 1 has no bfloat16 run: left out
            ]
        ),
        "trainer.precision",
        "bfloat16",
        "float32",
        ["prep", "net"],
    )
    none = table.set_index("prep").loc["none"]
    assert none.n == 2 and none.mean_diff_pp == pytest.approx(2.5)
    assert none.ci_low < 2.5 < none.ci_high
    assert table.set_index("prep").loc["zca"].n == 1


def test_the_newest_run_of_a_cell_counts():
    table = paired_differences(
        runs(
            [
                ("none", "deep", 0, "float32", 0.50, 1),
                ("none", "deep", 0, "bfloat16", 0.10, 2),
                ("none", "deep", 0, "bfloat16", 0.51, 3),  # a rerun
            ]
        ),
        "trainer.precision",
        "bfloat16",
        "float32",
        ["prep", "net"],
    )
    assert table.mean_diff_pp.iloc[0] == pytest.approx(1.0)


def test_a_missing_value_is_named():
    with pytest.raises(PrepbenchError, match="trainer.precision=bfloat16"):
        paired_differences(
            runs([("none", "deep", 0, "float32", 0.5, 1)]), "trainer.precision", "bfloat16", "float32", ["prep", "net"]
        )


def test_main_writes_the_table_and_its_markdown(tmp_path, monkeypatch, capsys):
    from prepbench.study import compare

    rows = [
        ("none", "deep", 0, "float32", 0.50, 1),
        ("none", "deep", 0, "bfloat16", 0.52, 2),
        ("none", "deep", 1, "float32", 0.40, 3),
        ("none", "deep", 1, "bfloat16", 0.43, 4),
    ]
    monkeypatch.setattr(compare, "load_finished", lambda uri, experiment: runs(rows))
    out = tmp_path / "out"
    argv = ["--experiment", "e", "--tracking-uri", "sqlite:///x.db", "--key", "trainer.precision"]
    assert compare.main([*argv, "--a", "bfloat16", "--b", "float32", "--out", str(out)]) == 0
    text = (out / "precision.md").read_text()
    assert text.startswith("Test accuracy with trainer.precision=bfloat16 minus trainer.precision=float32, ")
    assert (
        "\n\n| prep | net | seeds | mean diff (pp) | 95% interval | sd (pp) |\n"
        "|---|---|---:|---:|---|---:|\n"
        "| none | deep | 2 | +2.50 | [-3.85, +8.85] | 0.71 |\n\n"
        "Largest |mean difference|: 2.50 pp.\n"
    ) in text
    assert text.endswith("pp.\n")
    table = pd.read_csv(out / "precision.csv")
    assert list(table.columns) == ["prep", "net", "n", "mean_diff_pp", "ci_low", "ci_high", "sd_pp"]
    assert table.mean_diff_pp.iloc[0] == pytest.approx(2.5)
    assert sorted(p.name for p in out.iterdir()) == ["precision.csv", "precision.md"]
    assert capsys.readouterr().out == text + "\n"


def test_seeds_option_keeps_only_the_listed_seeds():
    from prepbench.study.compare import only_seeds

    all_runs = runs([("none", "deep", s, k, 0.5, s) for s in (0, 1, 2, 3) for k in ("float32", "bfloat16")])
    assert sorted(only_seeds(all_runs, "2,3")["params.seed"].unique()) == ["2", "3"]
    assert only_seeds(all_runs, None) is all_runs
    with pytest.raises(PrepbenchError, match="--seeds 2-3 is malformed"):
        only_seeds(all_runs, "2-3")
    with pytest.raises(PrepbenchError, match="no FINISHED run with seed in 9"):
        only_seeds(all_runs, "9")
