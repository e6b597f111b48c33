"""prepbench.report.families: depth ladders of two network families set side by side."""

import numpy as np
import pandas as pd
import pytest

from prepbench.report import families
from tests._report_runs import ladder_report


def ladder(tmp_path, name, depths, raw_benefit, variants=("none", "raw", "std"), only=None):
    return ladder_report(tmp_path / name, depths, raw_benefit, variants, only)


@pytest.fixture()
def two(tmp_path):
    plain = ladder(tmp_path, "plain", (1, 2, 4, 8), lambda d: 0.40 - 0.10 * np.log2(d))
    resnet = ladder(tmp_path, "resnet", (8, 14, 20), lambda d: 0.02)
    return plain, resnet


def test_slopes_rungs_and_their_difference_variant_by_variant(two, tmp_path, capsys):
    plain, resnet = two
    out = tmp_path / "families"
    assert families.main([f"plain={plain}", f"resnet={resnet}", "--out", str(out)]) == 0
    assert "2 variants in 2 families" in capsys.readouterr().out
    t = pd.read_csv(out / "families.csv").set_index(["family", "variant"])
    assert t.loc[("plain", "raw"), "slope"] == pytest.approx(-0.10, abs=1e-6)
    assert t.loc[("resnet", "raw"), "slope"] == pytest.approx(0.0, abs=1e-6)
    assert t.loc[("plain", "raw"), ["shallowest", "deepest"]].tolist() == ["depth=1", "depth=8"]
    assert t.loc[("resnet", "raw"), ["shallowest", "deepest"]].tolist() == ["depth=8", "depth=20"]
    assert t.loc[("plain", "raw"), "shallowest_benefit"] == pytest.approx(0.40, abs=1e-6)
    assert t.loc[("resnet", "raw"), "deepest_benefit"] == pytest.approx(0.02, abs=1e-6)
    assert t.loc[("resnet", "raw"), "difference"] == pytest.approx(0.10, abs=1e-6)
    assert t.loc[("resnet", "raw"), "difference_verdict"] == "resnet's slope higher than plain's"
    assert t.loc[("resnet", "std"), "difference_verdict"] == "no difference detectable"
    assert np.isnan(t.loc[("plain", "raw"), "difference"])  # the reference is not compared with itself
    page = (out / "families.md").read_text()
    assert "| `raw` | plain | 5 | -10.00 [" in page and "| `raw` | resnet | 5 | +0.00 [" in page
    assert page.index("| `raw` | resnet") < page.index("| `std` | plain")  # variant by variant
    assert "- **resnet** (`" in page and "depth=8, depth=14, depth=20; 1.32 doublings of depth" in page


def test_a_variant_one_family_lacks_is_named_and_left_out(tmp_path):
    plain = ladder(tmp_path, "plain", (1, 2, 4), lambda d: 0.1)
    resnet = ladder(tmp_path, "resnet", (8, 14, 20), lambda d: 0.1, variants=("none", "raw"))
    assert families.main([f"plain={plain}", f"resnet={resnet}", "--out", str(tmp_path / "f")]) == 0
    assert set(pd.read_csv(tmp_path / "f" / "families.csv")["variant"]) == {"raw"}
    assert (
        "2.00 doublings of depth; not in every family, so left out: `std`"
        in (tmp_path / "f" / "families.md").read_text()
    )


def test_a_variant_at_some_rungs_only_takes_its_own_shallowest_and_deepest(tmp_path):
    plain = ladder(tmp_path, "plain", (1, 2, 4, 8), lambda d: 0.40 - 0.10 * np.log2(d), only={"raw": (2, 8)})
    resnet = ladder(tmp_path, "resnet", (8, 14, 20), lambda d: 0.02)
    assert families.main([f"plain={plain}", f"resnet={resnet}", "--out", str(tmp_path / "f")]) == 0
    t = pd.read_csv(tmp_path / "f" / "families.csv").set_index(["family", "variant"])
    assert t.loc[("plain", "raw"), ["shallowest", "deepest"]].tolist() == ["depth=2", "depth=8"]
    assert t.loc[("plain", "raw"), "shallowest_benefit"] == pytest.approx(0.30, abs=1e-6)
    assert t.loc[("plain", "raw"), "slope"] == pytest.approx(-0.10, abs=1e-6)  # from its two rungs
    assert t.loc[("plain", "std"), ["shallowest", "deepest"]].tolist() == ["depth=1", "depth=8"]
    assert (
        "3.00 doublings of depth; `raw` only at depth=2, depth=8 (2.00 doublings): their slopes and rungs rest "
        "on those depths" in (tmp_path / "f" / "families.md").read_text()
    )


def test_a_report_whose_runs_changed_since_is_refused(two, tmp_path, capsys):
    plain, resnet = two
    runs = pd.read_csv(resnet / "runs.csv")
    runs.loc[(runs["variant"] == "raw") & (runs["moderator"] == "depth=20"), "test_accuracy"] -= 0.05
    runs.to_csv(resnet / "runs.csv", index=False)
    assert families.main([f"plain={plain}", f"resnet={resnet}", "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {resnet}: the slope of raw from runs.csv") and err.count("\n") == 1
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize(
    "ladders, message",
    [
        (["plain={plain}"], "1 ladder given (plain="),
        (["plain:{plain}", "resnet={resnet}"], "'plain:"),
        (["plain={plain}", "resnet={tmp}/absent"], "absent/runs.csv does not exist"),
        (["plain={plain}", "plain={resnet}"], "family name 'plain' given twice"),
    ],
)
def test_bad_input_is_one_line(two, tmp_path, capsys, ladders, message):
    plain, resnet = two
    args = [s.format(plain=plain, resnet=resnet, tmp=tmp_path) for s in ladders]
    assert families.main([*args, "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_report_without_a_ladder_is_refused(tmp_path, capsys):
    two_depths = ladder(tmp_path, "pair", (2, 8), lambda d: 0.1)
    plain = ladder(tmp_path, "plain", (1, 2, 4), lambda d: 0.1)
    assert families.main([f"plain={plain}", f"pair={two_depths}", "--out", str(tmp_path / "f")]) == 2
    assert "is not a ladder's report" in capsys.readouterr().err


def test_a_ladder_over_another_setting_than_depth_is_refused(tmp_path, capsys):
    from prepbench.report.driver import main as report
    from tests._report_runs import frame, job

    plain = ladder(tmp_path, "plain", (1, 2, 4), lambda d: 0.1)
    rows = [
        job(p, "deep", s, acc=0.6 + 0.01 * s + (p == "raw") * 0.01 * k, start=i, params={"data.train_size": str(size)})
        for i, (k, size, s, p) in enumerate(
            (k, size, s, p) for k, size in enumerate((1250, 2500, 5000)) for s in range(5) for p in ("none", "raw")
        )
    ]
    frame(rows).to_csv(tmp_path / "sizes.csv", index=False)
    sizes = tmp_path / "sizes"
    args = ["--runs-csv", str(tmp_path / "sizes.csv"), "--moderator", "data.train_size", "--out", str(sizes)]
    assert report(args) == 0
    assert families.main([f"plain={plain}", f"sizes={sizes}", "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert "is a ladder over train_size, not depth" in err and err.count("\n") == 1
