"""prepbench.report.replication: a retrained study's cells and verdicts beside the published ones."""

import pandas as pd

from prepbench.report import replication


def report(folder, accuracies: dict, verdicts: dict | None = None, fingerprint="f1"):
    """A report's runs.csv (one FINISHED run per (variant, net, seed), plus one superseded run
    that must not count) and effects.csv."""
    folder.mkdir(parents=True)
    rows = [
        dict(variant=v, moderator=m, seed=s, status="FINISHED", test_accuracy=acc, left_out="")
        for (v, m, s), acc in accuracies.items()
    ]
    rows.append(
        dict(variant="std", moderator="deep", seed=0, status="FINISHED", test_accuracy=0.1, left_out="superseded")
    )
    runs = pd.DataFrame(rows)
    runs["tags.prepbench.data_fingerprint"] = fingerprint
    runs.to_csv(folder / "runs.csv", index=False)
    effects = [
        dict(metric="test_accuracy", kind=kind, variant=v, moderator=m, verdict=words)
        for (kind, v, m), words in (verdicts or {}).items()
    ]
    pd.DataFrame(effects, columns=["metric", "kind", "variant", "moderator", "verdict"]).to_csv(
        folder / "effects.csv", index=False
    )
    return folder


PUBLISHED = {
    ("std", "deep", 0): 0.5000,
    ("std", "deep", 1): 0.5100,
    ("std", "shallow", 0): 0.4800,
    ("std", "shallow", 1): 0.4900,
}
VERDICTS = {("benefit", "std", "deep"): "helps", ("benefit", "std", "shallow"): "no detectable effect"}


def test_cells_that_match_close_differ_or_lack_a_side_and_by_how_much(tmp_path, capsys):
    here = {**PUBLISHED, ("std", "deep", 1): 0.5150, ("std", "shallow", 0): 0.4600}  # +0.5 pp, -2 pp
    del here[("std", "shallow", 1)]
    too_few = {("benefit", "raw", "deep"): "not enough seeds"}
    local = report(tmp_path / "local", here, {**VERDICTS, ("benefit", "std", "shallow"): "hurts", **too_few})
    published = report(tmp_path / "results", PUBLISHED, {**VERDICTS, ("benefit", "raw", "deep"): "hurts"})
    assert replication.main([str(local), str(published)]) == 0
    cells = pd.read_csv(local / "replication.csv").set_index(["moderator", "seed"])
    assert cells["agreement"].to_dict() == {
        ("deep", 0): "identical",
        ("deep", 1): "close",
        ("shallow", 0): "differs",
        ("shallow", 1): "published only",
    }
    assert round(cells.loc[("shallow", 0), "diff_pp"], 4) == -2.0
    printed = capsys.readouterr().out
    assert "data: the same images (fingerprint f1)" in printed
    assert "cells: 3 trained on both sides; 1 identical, 1 within 1 pp, 1 further apart" in printed
    assert "largest -2.00 pp (std · shallow · seed 0)" in printed
    assert "cells published only: 1" in printed
    assert (
        "verdicts: 1 of 2 the same (1 more need more seeds on one side); benefit of std on shallow: 'hurts' here, 'no detectable effect' published"
        in printed
    )
    page = (local / "replication.md").read_text()
    assert "| `std` | shallow | 1 | 46.00 | 48.00 | -2.00 | 2.00 | 1 differs, 1 published only |" in page


def test_other_data_is_said_first(tmp_path, capsys):
    local = report(tmp_path / "local", PUBLISHED, VERDICTS, fingerprint="f2")
    replication.main([str(local), str(report(tmp_path / "results", PUBLISHED, VERDICTS))])
    assert "data: OTHER images (fingerprint f2 here, f1 published)" in capsys.readouterr().out.splitlines()[1]


def test_a_study_with_no_published_report_has_nothing_to_compare(tmp_path, capsys):
    local = report(tmp_path / "local", PUBLISHED)
    assert replication.main([str(local), str(tmp_path / "results" / "adhoc")]) == 0
    assert "holds no published report" in capsys.readouterr().out
