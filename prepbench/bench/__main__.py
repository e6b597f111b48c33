"""`python -m prepbench.bench --out DIR [--quick]`: the driver (see prepbench/bench/__init__.py)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from prepbench.bench import __doc__ as package_doc
from prepbench.bench.measures import MEASURES, Bench
from prepbench.bench.plans import PLANS, Plan, load_data
from prepbench.bench.ratios import TARGETS, compute_ratios
from prepbench.bench.render import write
from prepbench.track.provenance import git_commit, hardware, versions


def machine_info() -> dict:
    gpus = []
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        for device in tf.config.list_physical_devices("GPU"):
            gpus.append(tf.config.experimental.get_device_details(device).get("device_name", device.name))
    return {
        "hardware": hardware(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "gpus": gpus,
        "loadavg_start": list(os.getloadavg()),
    }


def context(plan: Plan, splits, data_name: str, data_note: str, threads: int, load_start: list) -> dict:
    """The report's first keys: what was run, where, with what, on which data."""
    import tensorflow as tf

    as_script = Path(sys.argv[0]).name == "__main__.py" and Path(sys.argv[0]).parent.name == "bench"
    return {
        "command": " ".join(["python -m prepbench.bench", *sys.argv[1:]]) if as_script else None,
        "plan": plan.__dict__ | {"idg_images": dict(plan.idg_images)},
        "git_commit": git_commit(),
        "versions": versions(),
        "machine": machine_info() | {"loadavg_start": load_start},
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "setting": threads,
        },
        "data": {
            "name": data_name,
            "note": data_note,
            "fingerprint": splits.fingerprint,
            "train_images_available": len(splits.y_train),
        },
        "targets": TARGETS,
    }


def run(
    plan: Plan,
    *,
    data: str = "auto",
    threads: int = 0,
    cache_dir: str | None = None,
    sweep: bool | None = None,
    log=print,
) -> dict:
    """All measurements of one plan; returns the report as a dict (ratios, raw figures, context)."""
    start = time.perf_counter()
    load_start = list(os.getloadavg())
    splits, data_name, data_note = load_data(data, cache_dir)

    from prepbench.train.fit import configure_tensorflow

    configure_tensorflow(threads=threads, deterministic=False)
    report = context(plan, splits, data_name, data_note, threads, load_start)
    bench = Bench(plan, splits, data_name, sweep=plan.sweep if sweep is None else sweep, log=log)
    for measure in MEASURES:
        if measure.when(bench):
            report[measure.key] = measure.run(bench)
    report["ratios"] = compute_ratios(report)
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report["wall_seconds"] = time.perf_counter() - start
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prepbench.bench", description=package_doc.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for bench.md and bench.json")
    parser.add_argument("--quick", action="store_true", help="the full plan with one repeat instead of two")
    parser.add_argument("--plan", choices=sorted(PLANS), help="full, quick or tiny (tests); overrides --quick")
    parser.add_argument(
        "--data",
        choices=("auto", "folder", "synthetic"),
        default="auto",
        help="auto: the shared CIFAR-10 JPEG copy if present, else synthetic",
    )
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: TensorFlow's default)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep-level figures")
    args = parser.parse_args(argv)
    plan = PLANS[args.plan or ("quick" if args.quick else "full")]
    report = run(plan, data=args.data, threads=args.threads, sweep=False if args.no_sweep else None)
    report["command"] = " ".join(["python -m prepbench.bench", *(argv if argv is not None else sys.argv[1:])])
    write(report, args.out)
    print((args.out / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
