"""bench.md and bench.json from the report dict: one function per part of bench.md, listed in
SECTIONS (a part whose report key is absent, such as the sweep-level figures, is left out)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from prepbench.bench.plans import HARNESS_VARIANTS
from prepbench.bench.ratios import flat_ratios, median, target_for
from prepbench.document import Document
from prepbench.io import write_text


def num(v, d: int = 1) -> str:
    """A figure with thousands separators and d decimals; "n/a" for a missing or NaN one."""
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{d}f}"


def header(doc: Document, r: dict) -> None:
    machine, data = r["machine"], r["data"]
    doc.h(1, "prepbench benchmark")
    lines = [
        f"Command: `{r.get('command') or 'python -m prepbench.bench'}`  ",
        f"Commit: `{r['git_commit']}`  ",
        f"Data: {data['name']} (fingerprint `{data['fingerprint']}`)"
        + (f" — **{data['note']}**" if data["note"] else ""),
        f"Machine: {machine['hardware']}; load average at start "
        f"{', '.join(num(x, 2) for x in machine['loadavg_start'])}, "
        f"at end {', '.join(num(x, 2) for x in machine.get('loadavg_end', []))} (other engineers share this machine)  ",
        f"TensorFlow threads: intra-op {r['threads']['intra_op']}, inter-op {r['threads']['inter_op']} "
        "(0 = TensorFlow's default)  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + "  ",
        f"Plan `{r['plan']['name']}`: {r['plan']['repeats']} repeat(s), batch {r['plan']['batch_size']}; "
        f"wall time {num(r.get('wall_seconds', 0), 0)} s",
    ]
    doc.p("\n".join(lines))


def headline(doc: Document, r: dict) -> None:
    doc.h(2, "Headline ratios (higher is better)")
    rows = []
    for key, value in flat_ratios(r["ratios"]).items():
        target = target_for(key)
        mark = "" if target is None else (" ✓" if value >= target else " ✗")
        rows.append([f"`{key}`", f"{num(value, 2)}{mark}", "" if target is None else f"≥ {target:g}"])
    doc.table(["ratio", "measured", "target"], rows, align="lrr")


def zca_fit(doc: Document, r: dict) -> None:
    z = r["zca_fit"]
    doc.h(2, "ZCA fit")
    text = (
        f"On the same {z['images']:,} training images: IDG `fit` {num(z['idg_seconds'])} s, "
        f"prepbench `fit` {num(z['prepbench_seconds'])} s."
    )
    if "prepbench_all_seconds" in z:
        text += (
            f"\nprepbench on all {z['prepbench_all_images']:,} training images: "
            f"{num(z['prepbench_all_seconds'])} s (target < 30 s)."
        )
    doc.p(text)


def pipeline(doc: Document, r: dict) -> None:
    doc.h(2, "Input pipelines (images/s of batches fully produced)")
    doc.p(
        "IDG: `ImageDataGenerator(rescale=1/255, featurewise ...).flow(x, y, batch_size)`, pulled batch by batch. "
        "prepbench: `train.make_inputs(...).train`, iterated; static work (scaling, standardization, whitening) "
        "is done once in make_inputs (`setup`), augmentation + normalization per batch in tf.data. "
        "`augment` = the memo's rotation 20°, shifts 0.2, flip, nearest fill, then featurewise standardization."
    )
    rows = []
    for v, d in r["pipeline"].items():
        i = median(x["idg"]["images_per_second"] for x in d["repeats"])
        o = median(x["prepbench"]["images_per_second"] for x in d["repeats"])
        s = median(x["prepbench"]["setup_seconds"] for x in d["repeats"])
        rows.append([v, num(i, 0), num(o, 0), num(d["ratio"], 1), num(s, 2), num(d["ratio_with_setup"], 1)])
    columns = ["variant", "IDG img/s", "prepbench img/s", "ratio", "prepbench setup s", "ratio incl. setup"]
    doc.table(columns, rows, align="lrrrrr")
    plan = r["plan"]
    doc.p(
        f"Images: IDG {', '.join(f'{k} {v:,}' for k, v in plan['idg_images'].items())}; prepbench "
        f"{plan['pipeline_images']:,} x {plan['pipeline_epochs']} epoch(s). 'incl. setup' charges the "
        "one-time static transform to those epochs only."
    )


def training(doc: Document, r: dict) -> None:
    doc.h(2, "Training: a prepbench job vs bare Keras (training images/s, validation excluded)")
    doc.p(
        "prepbench: `train.make_inputs` + `train.fit_and_evaluate` (its own timing). Bare: the same "
        "`nets.build_model` network, same compile, `model.fit(x, y, batch_size)` on x/255 tensors in memory, "
        "no augmentation."
    )
    rows = []
    for net, t in r["training"].items():
        cells = [net, num(t["bare_images_per_second"], 0)]
        for v in HARNESS_VARIANTS:
            ips = median(row[v]["images_per_second"] for row in t["repeats"])
            cells.append(f"{num(ips, 0)} ({num(t['harness_vs_bare'][v], 2)})")
        rows.append(cells)
    columns = ["net", "bare img/s", *(f"{v} img/s (ratio)" for v in HARNESS_VARIANTS)]
    doc.table(columns, rows, align="l" + "r" * (len(columns) - 1))
    doc.p(
        f"{r['plan']['train_images']:,} images x {r['plan']['train_epochs']} epochs per measurement; "
        "ratio = median over repeats of (prepbench / bare) measured back to back."
    )


def flop_rate(doc: Document, r: dict) -> None:
    peak = r["matmul_peak"]
    readings = ", ".join(num(g) for g in peak.get("readings_gflops", [peak["gflops"]]))
    doc.h(2, "FLOP rate")
    doc.p(
        "FLOPs counted analytically from the layer shapes: conv 2·H·W·k·k·Cin·Cout per image forward, dense "
        "2·in·out; training = 3 x forward; pooling, ReLU, biases and loss left out. Peak: float32 "
        f"{peak['n']}x{peak['n']} `tf.matmul`, measured in this run beside each net's training, "
        f"best reading kept: {num(peak['gflops'])} GFLOP/s (readings: {readings}). The convolutions "
        "(oneDNN) can beat a plain matmul, so a ratio above 1 is possible."
    )
    rows = [
        [
            net,
            num(t["flops_per_image"]["training"] / 1e6),
            num(t["harness_gflops"]),
            num(t["bare_gflops"]),
            num(r["ratios"]["flops_vs_peak"][net], 2),
        ]
        for net, t in r["training"].items()
    ]
    columns = ["net", "training MFLOP/image", "prepbench (none) GFLOP/s", "bare GFLOP/s", "prepbench / peak"]
    doc.table(columns, rows, align="lrrrr")


def precision(doc: Document, r: dict) -> None:
    peak32, peak16 = r["matmul_peak"], r["precision"]["matmul_peak_bf16"]
    doc.h(2, "bfloat16 against float32 (trainer.precision)")
    doc.p(
        "The same prepbench job (variant none) in float32 and in bfloat16 (Keras `mixed_bfloat16`: float32 "
        "variables, bfloat16 compute, float32 logits and loss), alternated back to back; steady training "
        "images/s (epochs after the first, whose time includes tracing the train step). Peaks: "
        f"{peak32['n']}x{peak32['n']} `tf.matmul`, best reading of the run: float32 {num(peak32['gflops'])} GFLOP/s, "
        f"bfloat16 {num(peak16['gflops'])} GFLOP/s (readings: "
        f"{', '.join(num(g) for g in peak16.get('readings_gflops', [peak16['gflops']]))})."
    )
    rows = [
        [
            net,
            num(p["float32_images_per_second"], 0),
            num(p["bfloat16_images_per_second"], 0),
            num(p["ratio"], 2),
            num(p["bfloat16_gflops"]),
            num(r["ratios"]["flops_vs_peak_bf16"][net], 2),
        ]
        for net, p in r["precision"]["nets"].items()
    ]
    columns = ["net", "float32 img/s", "bfloat16 img/s", "bf16 / fp32", "bfloat16 GFLOP/s", "/ bfloat16 peak"]
    doc.table(columns, rows, align="lrrrrr")


def backends(doc: Document, r: dict) -> None:
    part = r["backends"]
    doc.h(2, "JAX against TensorFlow (trainer.backend)")
    if "skipped" in part:
        doc.p(f"Not measured: {part['skipped']}.")
        return
    doc.p(
        "The same prepbench job (variant none, float32 on both: `auto` resolves differently per backend) on "
        "each Keras backend, each run in a fresh process (TensorFlow blocked in the JAX ones), TensorFlow and "
        "JAX alternated; steady training images/s (epochs after the first, whose time includes compilation), "
        "and the whole fit (compilation and validation included). `python -m prepbench.backend_speed` "
        "measures the same on its own."
    )
    rows = [
        [
            key,
            num(row["tensorflow_images_per_second"], 0),
            num(row["jax_images_per_second"], 0),
            num(row["ratio"], 2),
            num(row["fit_seconds"]["tensorflow"]),
            num(row["fit_seconds"]["jax"]),
        ]
        for key, row in part["jobs"].items()
    ]
    columns = ["job", "TensorFlow img/s", "JAX img/s", "JAX / TensorFlow", "TensorFlow fit s", "JAX fit s"]
    doc.table(columns, rows, align="lrrrrr")


def fixed_cost(doc: Document, r: dict) -> None:
    fc = r["sweep"]["fixed_cost"]
    doc.h(2, "Sweep-level figures")
    doc.p(
        "Fixed cost per job = 2 x t(1 epoch) - t(2 epochs), through `job.run_job` in one process "
        "(MLflow run, figure, data, preprocessing, model build, test evaluation; not the TensorFlow import), "
        "`cpu` study budget, shallow net:"
    )
    rows = [
        [
            prep,
            num(fc[prep + "/1"]["seconds"]),
            num(fc[prep + "/2"]["seconds"]),
            num(fc[prep]["per_epoch_seconds"]),
            num(fc[prep]["fixed_seconds"]),
            f"{num(100 * fc[prep]['share_of_cpu_job'], 0)}%",
        ]
        for prep in ("none", "zca")
    ]
    columns = ["prep", "job 1 epoch s", "job 2 epochs s", "per epoch s", "fixed s", "fixed / cpu-study job"]
    doc.table(columns, rows, align="lrrrrr")


def rerun(doc: Document, r: dict) -> None:
    rr = r["sweep"]["rerun"]
    doc.p(
        f"Re-run of an all-FINISHED sweep: `{rr['command']}` ({rr['jobs']} jobs): first run "
        f"{num(rr['first_seconds'])} s, second run (all skipped: {rr['second_skipped']}) {num(rr['second_seconds'])} s, "
        "a new Python process each (target: under 30 s). `python -m prepbench --help` takes "
        f"{num(rr['startup_seconds'])} s, so a skipped job costs {num(rr['per_skipped_job_seconds'], 2)} s and "
        f"re-running the 48-job `cpu` study with everything FINISHED takes about "
        f"{num(rr['estimated_48_job_seconds'])} s (estimate)."
    )


def determinism(doc: Document, r: dict) -> None:
    det = r["sweep"]["determinism"]
    doc.p(
        "`trainer.deterministic=true` (TensorFlow op determinism), deep net, one epoch of the `cpu` budget, "
        f"fresh processes alternated: {num(median(det['images_per_second']['true']))} vs "
        f"{num(median(det['images_per_second']['false']))} training images/s, a ratio of "
        f"{num(det['deterministic_vs_default'], 2)}."
    )


# (the report key a part needs, or None for always; the part)
SECTIONS = (
    (None, header),
    (None, headline),
    ("zca_fit", zca_fit),
    ("pipeline", pipeline),
    ("training", training),
    ("matmul_peak", flop_rate),
    ("precision", precision),
    ("backends", backends),
    ("sweep", fixed_cost),
    ("sweep", rerun),
    ("sweep", determinism),
)


def document(report: dict) -> Document:
    doc = Document()
    for key, part in SECTIONS:
        if key is None or key in report:
            part(doc, report)
    return doc


def markdown(report: dict) -> str:
    return document(report).markdown()


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "bench.json", json.dumps(jsonable(report), indent=2) + "\n")
    write_text(out / "bench.md", markdown(report))
