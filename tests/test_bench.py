"""The benchmark's code on tiny inputs: FLOP counting, ratios, the report's keys and files, and a
whole tiny run on synthetic images. Speed is never asserted here; `python -m prepbench.bench` reports it."""

import json
import math

import numpy as np
import pytest

from prepbench.bench import measures, plans, ratios, render
from prepbench.bench.__main__ import main


def test_flop_count_matches_a_hand_count():
    from prepbench.train.nets import build_model

    # conv(2 filters, 3x3) on 8x8x3 -> 8x8x2, pool -> 4x4x2 = 32, dense 32 -> 4, dense 4 -> 3
    model = build_model(depth=1, width=2, dense=4, num_classes=3, input_shape=(8, 8, 3), batchnorm=False, seed=0)
    conv = 2 * 8 * 8 * 3 * 3 * 3 * 2
    dense = 2 * 32 * 4 + 2 * 4 * 3
    assert measures.training_flops_per_image(model) == {"forward": conv + dense, "training": 3 * (conv + dense)}


def test_flop_count_of_the_deep_net_grows_with_depth():
    from prepbench.train.nets import build_model

    counts = [
        measures.training_flops_per_image(
            build_model(depth=d, width=8, dense=16, num_classes=10, input_shape=(16, 16, 3), batchnorm=False, seed=0)
        )["forward"]
        for d in (1, 2, 4)
    ]
    assert counts[0] < counts[1] < counts[2]


def test_ratio_refuses_a_zero_or_missing_denominator():
    assert ratios.ratio(6.0, 3.0) == 2.0
    assert math.isnan(ratios.ratio(1.0, 0.0))
    assert math.isnan(ratios.ratio(1.0, math.nan))


def fake_report():
    """A report with every section the writers read, figures chosen so the ratios are known."""

    def pipeline_row(idg, ours):
        return {
            "idg": {"images_per_second": idg},
            "prepbench": {"images_per_second": ours, "setup_seconds": 0.5, "with_setup_images_per_second": ours / 2},
            "ratio": ours / idg,
            "ratio_with_setup": ours / 2 / idg,
        }

    pipeline = {
        v: {"repeats": [pipeline_row(100.0, 100.0 * k)], "ratio": float(k), "ratio_with_setup": k / 2}
        for v, k in zip(plans.PIPELINE_VARIANTS, (5, 60, 4))
    }
    training = {}
    for net, flops in (("shallow", 1e7), ("deep", 1e8)):
        row = {"bare": {"images_per_second": 100.0}} | {v: {"images_per_second": 95.0} for v in plans.HARNESS_VARIANTS}
        training[net] = {
            "flops_per_image": {"forward": flops / 3, "training": flops},
            "repeats": [row],
            "harness_vs_bare": {v: 0.95 for v in plans.HARNESS_VARIANTS},
            "bare_images_per_second": 100.0,
            "harness_none_images_per_second": 95.0,
            "harness_gflops": 95.0 * flops / 1e9,
            "bare_gflops": 100.0 * flops / 1e9,
        }
    report = {
        "command": "python -m prepbench.bench --out x",
        "plan": plans.PLANS["tiny"].__dict__,
        "git_commit": "abc",
        "versions": {"tensorflow": "2.21"},
        "threads": {"intra_op": 2, "inter_op": 1, "setting": 2},
        "machine": {"hardware": "cpu x2", "loadavg_start": [1.0, 1.0, 1.0], "loadavg_end": [1.0, 1.0, 1.0], "gpus": []},
        "data": {"name": "synthetic", "note": "synthetic images", "fingerprint": "f"},
        "zca_fit": {"images": 10, "idg_seconds": 40.0, "prepbench_seconds": 8.0},
        "pipeline": pipeline,
        "training": training,
        "matmul_peak": {"n": 8, "gflops": 19.0},
        "precision": {
            "matmul_peak_bf16": {"n": 8, "gflops": 50.0},
            "nets": {
                net: {
                    "flops_per_image": {"training": flops},
                    "repeats": [],
                    "float32_images_per_second": 100.0,
                    "bfloat16_images_per_second": 250.0,
                    "ratio": 2.5,
                    "bfloat16_gflops": 250.0 * flops / 1e9,
                    "float32_gflops": 100.0 * flops / 1e9,
                }
                for net, flops in (("shallow", 1e7), ("deep", 1e8))
            },
        },
    }
    report["ratios"] = ratios.compute_ratios(report)
    return report


def test_ratios_come_from_the_raw_figures():
    r = fake_report()["ratios"]
    assert r["pipeline_vs_idg"] == {"std": 5.0, "zca": 60.0, "augment": 4.0}
    assert r["zca_fit_vs_idg"] == pytest.approx(5.0)
    assert r["harness_vs_bare"]["deep"]["augment"] == pytest.approx(0.95)
    assert r["flops_vs_peak"]["deep"] == pytest.approx(95.0 * 1e8 / 1e9 / 19.0)
    assert r["bf16_vs_fp32"] == {"shallow": 2.5, "deep": 2.5}
    assert r["flops_vs_peak_bf16"]["deep"] == pytest.approx(250.0 * 1e8 / 1e9 / 50.0)


def test_every_ratio_has_its_target_where_the_issue_sets_one():
    flat = ratios.flat_ratios(fake_report()["ratios"])
    assert ratios.target_for("harness_vs_bare.deep.zca") == 0.9
    assert ratios.target_for("flops_vs_peak.deep") == 0.6
    assert ratios.target_for("flops_vs_peak.shallow") is None
    assert ratios.target_for("bf16_vs_fp32.deep") == 2.0 and ratios.target_for("bf16_vs_fp32.shallow") == 2.0
    assert ratios.target_for("flops_vs_peak_bf16.deep") == 0.5
    assert {k for k in flat if ratios.target_for(k) is None} == {"flops_vs_peak.shallow", "flops_vs_peak_bf16.shallow"}


def test_the_targets_written_to_json_are_the_ratio_tables_targets():
    assert ratios.TARGETS == {
        "pipeline_vs_idg.std": 4.0,
        "pipeline_vs_idg.zca": 50.0,
        "pipeline_vs_idg.augment": 4.0,
        "zca_fit_vs_idg": 4.0,
        "harness_vs_bare.*": 0.9,
        "flops_vs_peak.deep": 0.6,
        "bf16_vs_fp32.shallow": 2.0,
        "bf16_vs_fp32.deep": 2.0,
        "flops_vs_peak_bf16.deep": 0.5,
    }
    assert [r.key for r in ratios.RATIOS] == list(fake_report()["ratios"])


def test_every_measure_has_a_part_of_the_markdown():
    rendered = {key for key, _ in render.SECTIONS}
    keys = [m.key for m in measures.MEASURES]
    assert len(keys) == len(set(keys)), "each measure fills its own section of bench.json"
    assert set(keys) <= rendered, "a new measure needs its part in render.SECTIONS"
    assert keys[:2] == ["zca_fit", "pipeline"], "the pipeline measure reuses the ZCA fit's objects"


def test_the_committed_benchmark_renders_as_committed():
    """bench.md is a pure function of bench.json: the committed pair must agree."""
    from prepbench import ROOT

    committed = ROOT / "results" / "bench"
    report = json.loads((committed / "bench.json").read_text())
    assert render.markdown(report) == (committed / "bench.md").read_text()


def test_json_and_markdown_hold_every_required_key(tmp_path):
    report = fake_report()
    report["ratios"]["zca_fit_vs_idg"] = math.nan  # written as null, never as invalid JSON
    render.write(report, tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert set(data["ratios"]) == {
        "pipeline_vs_idg",
        "zca_fit_vs_idg",
        "harness_vs_bare",
        "flops_vs_peak",
        "bf16_vs_fp32",
        "flops_vs_peak_bf16",
    }
    assert set(data["ratios"]["pipeline_vs_idg"]) == {"std", "zca", "augment"}
    assert data["ratios"]["zca_fit_vs_idg"] is None
    for net in ("shallow", "deep"):
        assert {"none", "zca", "augment"} <= set(data["ratios"]["harness_vs_bare"][net])
    for key in ("machine", "versions", "plan", "data", "git_commit", "command"):
        assert key in data
    text = (tmp_path / "bench.md").read_text()
    for key in ratios.flat_ratios(report["ratios"]):
        assert f"`{key}`" in text
    assert "synthetic images" in text and "n/a" in text


def test_the_idg_reference_does_the_memos_augmentation():
    aug = plans.augmentation_conf()
    idg = plans.idg_for("augment")
    assert idg.rotation_range == aug.rotation_degrees
    assert idg.width_shift_range == idg.height_shift_range == aug.shift_fraction
    assert idg.horizontal_flip == aug.horizontal_flip and idg.fill_mode == aug.fill_mode
    assert idg.featurewise_center and idg.featurewise_std_normalization
    p = plans.preprocessor("augment")
    assert p.augment and p.normalization == "std"
    assert plans.idg_for("zca").zca_whitening and not plans.idg_for("std").zca_whitening


def test_pipeline_throughput_counts_every_image_of_every_epoch():
    from prepbench.data.splits import Splits
    from prepbench.variants import build

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 3, size=40)
    splits = Splits(x, y, x[:8], y[:8], x[:8], y[:8], ("a", "b", "c"), "f")
    out = measures.pipeline_throughput(splits, build("std", augment=True).fit(x), epochs=2, batch_size=16)
    assert out["images"] == 80
    assert out["images_per_second"] > 0 and out["setup_seconds"] >= 0


@pytest.mark.slow
def test_a_tiny_run_writes_the_report(tmp_path):
    assert main(["--out", str(tmp_path), "--plan", "tiny", "--data", "synthetic", "--no-sweep"]) == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    flat = ratios.flat_ratios(data["ratios"])
    assert len(flat) == 3 + 1 + 2 * len(plans.HARNESS_VARIANTS) + 2 + 2 + 2  # + bf16_vs_fp32, flops_vs_peak_bf16
    assert all(v is None or v > 0 for v in flat.values())
    assert data["data"]["note"] and data["machine"]["loadavg_start"]
    assert (
        data["training"]["deep"]["flops_per_image"]["training"]
        > data["training"]["shallow"]["flops_per_image"]["training"] / 10
    )
    assert data["precision"]["matmul_peak_bf16"]["dtype"] == "bfloat16"


def test_the_quick_plan_measures_what_the_full_plan_measures_with_fewer_repeats():
    full, quick = plans.PLANS["full"], plans.PLANS["quick"]
    assert quick.repeats < full.repeats
    assert {k: v for k, v in quick.__dict__.items() if k not in ("name", "repeats")} == {
        k: v for k, v in full.__dict__.items() if k not in ("name", "repeats")
    }


def test_the_steady_rate_leaves_out_the_first_epoch():
    assert measures.steady_rate(100, [10.0, 1.0, 2.0]) == pytest.approx(100 / 1.5)
    assert measures.steady_rate(100, [4.0]) == 25.0


def test_the_sweep_figures_keep_their_store_and_artifacts_in_the_workdir(tmp_path, monkeypatch):
    """experiment=cpu puts its store and artifacts under results/cpu/: the bench's jobs must not."""
    import prepbench.study.job
    from prepbench.bench import sweeps

    seen, passed = [], []
    monkeypatch.setattr(prepbench.study.job, "run_job", lambda cfg, overrides, **kw: seen.append(cfg.tracking))
    monkeypatch.setattr(sweeps, "rerun_cost", lambda workdir, uri: {})
    monkeypatch.setattr(sweeps, "determinism_cost", lambda workdir, overrides: passed.append(overrides) or {})
    sweeps.sweep_figures(tmp_path, ["experiment=cpu", "data=synthetic"], repeats=1)
    assert seen and all(t.uri == f"sqlite:///{tmp_path / 'mlflow.db'}" for t in seen)
    assert all(t.artifact_location == str(tmp_path / "mlartifacts") for t in seen)
    assert f"tracking.artifact_location={tmp_path / 'mlartifacts'}" in passed[0]
