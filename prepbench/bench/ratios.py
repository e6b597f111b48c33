"""The headline ratios, one row of RATIOS each: how it is computed from the raw figures and the
target it should reach. A ratio is a number or a dict of numbers (one per variant or net);
`targets` maps a sub-key (or "*" for every sub-key, "" for a plain number) to its target. And the
arithmetic every measure uses: `seconds` (a call timed), `median`, `ratio`."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prepbench.bench.plans import PIPELINE_VARIANTS


def seconds(call):
    """(the seconds `call()` took, its value)."""
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def median(values) -> float:
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is not a positive finite number."""
    if not (denominator > 0 and math.isfinite(denominator)):
        return math.nan
    return float(numerator) / float(denominator)


@dataclass(frozen=True)
class Ratio:
    key: str
    compute: Callable[[dict], float | dict]  # the report (raw figures) -> the ratio
    targets: dict[str, float] = field(default_factory=dict)


def _flops_vs_peak(report: dict) -> dict:
    peak = report["matmul_peak"]["gflops"]
    return {net: ratio(t["harness_gflops"], peak) for net, t in report["training"].items()}


def _bf16_vs_fp32(report: dict) -> dict:
    return {net: p["ratio"] for net, p in report["precision"]["nets"].items()}


def _flops_vs_peak_bf16(report: dict) -> dict:
    peak = report["precision"]["matmul_peak_bf16"]["gflops"]
    return {net: ratio(p["bfloat16_gflops"], peak) for net, p in report["precision"]["nets"].items()}


RATIOS = (
    Ratio(
        "pipeline_vs_idg",
        lambda r: {v: r["pipeline"][v]["ratio"] for v in PIPELINE_VARIANTS},
        {"std": 4.0, "zca": 50.0, "augment": 4.0},
    ),
    Ratio(
        "zca_fit_vs_idg",
        lambda r: ratio(r["zca_fit"]["idg_seconds"], r["zca_fit"]["prepbench_seconds"]),
        {"": 4.0},
    ),
    Ratio(
        "harness_vs_bare",
        lambda r: {net: dict(t["harness_vs_bare"]) for net, t in r["training"].items()},
        {"*": 0.9},
    ),
    Ratio("flops_vs_peak", _flops_vs_peak, {"deep": 0.6}),
    Ratio("bf16_vs_fp32", _bf16_vs_fp32, {"shallow": 2.0, "deep": 2.0}),
    Ratio("flops_vs_peak_bf16", _flops_vs_peak_bf16, {"deep": 0.5}),
)

# The targets by dotted key (written into bench.json): "harness_vs_bare.*" stands for every net and variant.
TARGETS = {(f"{r.key}.{sub}" if sub else r.key): target for r in RATIOS for sub, target in r.targets.items()}


def compute_ratios(report: dict) -> dict:
    """The headline ratios from the raw figures."""
    return {r.key: r.compute(report) for r in RATIOS}


def target_for(key: str):
    if key in TARGETS:
        return TARGETS[key]
    return TARGETS.get(key.split(".")[0] + ".*")


def flat_ratios(ratios: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in ratios.items():
        name = f"{prefix}{key}"
        out.update(flat_ratios(value, name + ".") if isinstance(value, dict) else {name: value})
    return out
