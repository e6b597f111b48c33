"""Two settings of one key, paired by seed, in every cell of an experiment.

    python -m prepbench.compare --experiment precision --tracking-uri URI \
        --key trainer.precision --a bfloat16 --b float32 --by prep,net --out results/precision

For each cell (a combination of the `--by` params), the test accuracy of the newest FINISHED run
with `key=a` minus that with `key=b`, seed by seed, in percentage points, with its mean and 95% t
interval. Writes OUT/<key's last part>.csv (columns: the --by keys, n, mean_diff_pp, ci_low, ci_high,
sd_pp) and OUT/<...>.md. Reads MLflow only; the question it answers is "does this setting change the
numbers a study reports?", for example bfloat16 against float32.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from prepbench.document import Document
from prepbench.errors import PrepbenchError
from prepbench.io import write_text
from prepbench.report import stats


def load_finished(tracking_uri: str, experiment: str) -> pd.DataFrame:
    """The experiment's FINISHED job runs: params.*, test_accuracy, start_time (newest first)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise PrepbenchError(f"experiment {experiment!r} not found in {tracking_uri}")
    rows = [
        {f"params.{k}": v for k, v in run.data.params.items()}
        | {"test_accuracy": run.data.metrics.get("test_accuracy"), "start_time": run.info.start_time}
        for run in client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'", max_results=50_000)
        if "test_accuracy" in run.data.metrics
    ]
    if not rows:
        raise PrepbenchError(f"experiment {experiment!r} has no FINISHED job runs")
    return pd.DataFrame(rows).sort_values("start_time", ascending=False)


def only_seeds(runs: pd.DataFrame, seeds: str | None) -> pd.DataFrame:
    """The runs of the listed seeds ("3,4,5"); all runs when `seeds` is None."""
    if seeds is None:
        return runs
    wanted = [s.strip() for s in seeds.split(",")]
    if not all(s.isdigit() for s in wanted):
        raise PrepbenchError(f"--seeds {seeds} is malformed; expected seeds separated by commas, e.g. 3,4,5")
    kept = runs[runs.get("params.seed", pd.Series(index=runs.index, dtype=object)).isin(wanted)]
    if kept.empty:
        raise PrepbenchError(f"no FINISHED run with seed in {seeds}")
    return kept


def paired_differences(runs: pd.DataFrame, key: str, a: str, b: str, by: list[str]) -> pd.DataFrame:
    """One row per cell: n seeds with both settings, mean difference a - b (pp) and its 95% interval."""
    columns = [f"params.{k}" for k in [*by, key, "seed"]]
    missing = [c[len("params.") :] for c in columns if c not in runs]
    if missing:
        raise PrepbenchError(f"no param {', '.join(missing)} in the runs; expected keys such as prep, net, seed")
    newest = runs.drop_duplicates(columns)  # newest first: a rerun replaces the run it repeats
    wide = newest.pivot_table(
        index=[f"params.{k}" for k in [*by, "seed"]], columns=f"params.{key}", values="test_accuracy", aggfunc="first"
    )
    for value in (a, b):
        if value not in wide:
            raise PrepbenchError(f"no FINISHED run with {key}={value}; found {', '.join(map(str, wide.columns))}")
    diff = (100 * (wide[a] - wide[b])).dropna().rename("diff")
    rows = []
    for cell, d in diff.groupby(level=list(range(len(by)))):
        cell = cell if isinstance(cell, tuple) else (cell,)
        interval = stats.t_interval(d.to_numpy())
        rows.append(
            dict(zip(by, cell))
            | dict(
                n=len(d),
                mean_diff_pp=float(d.mean()),
                ci_low=interval.low,
                ci_high=interval.high,
                sd_pp=float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
            )
        )
    return pd.DataFrame(rows)


def document(table: pd.DataFrame, key: str, a: str, b: str, command: str) -> Document:
    by = [c for c in table.columns if c not in ("n", "mean_diff_pp", "ci_low", "ci_high", "sd_pp")]
    doc = Document()
    doc.p(
        f"Test accuracy with {key}={a} minus {key}={b}, paired by seed, in percentage points "
        f"(mean and 95% t interval). Produced by `{command}`."
    )
    doc.table(
        [*by, "seeds", "mean diff (pp)", "95% interval", "sd (pp)"],
        [
            [
                *(r[k] for k in by),
                r["n"],
                f"{r['mean_diff_pp']:+.2f}",
                f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]",
                f"{r['sd_pp']:.2f}",
            ]
            for r in (row._asdict() for row in table.itertuples(index=False))
        ],
        align="l" * len(by) + "rrlr",
    )
    doc.p(f"Largest |mean difference|: {table.mean_diff_pp.abs().max():.2f} pp.")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prepbench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--tracking-uri", required=True, help="the experiment's MLflow store")
    parser.add_argument("--key", required=True, help="the param compared, e.g. trainer.precision")
    parser.add_argument("--a", required=True, help="its value on the left of the difference, e.g. bfloat16")
    parser.add_argument("--b", required=True, help="its value on the right, e.g. float32")
    parser.add_argument("--by", default="prep,net", help="comma-separated params that define a cell (default prep,net)")
    parser.add_argument("--seeds", default=None, help="only these seeds, comma-separated (default: every seed)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the .csv and .md")
    args = parser.parse_args(argv)
    by = [k for k in args.by.split(",") if k]
    try:
        runs = only_seeds(load_finished(args.tracking_uri, args.experiment), args.seeds)
        table = paired_differences(runs, args.key, args.a, args.b, by)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    name = args.key.split(".")[-1]
    write_text(args.out / f"{name}.csv", table.to_csv(index=False, float_format="%.4f"))
    command = "python -m prepbench.compare " + " ".join(argv if argv is not None else sys.argv[1:])
    text = document(table, args.key, args.a, args.b, command).markdown()
    write_text(args.out / f"{name}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
