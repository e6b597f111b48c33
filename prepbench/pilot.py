"""How many epochs a study needs, decided on validation accuracy only, before the study runs.

    python -m prepbench.pilot --experiment converged-pilot --tracking-uri URI --out DIR

reads the pilot's FINISHED runs (one variant, each net at several `trainer.epochs` budgets) from
MLflow and applies the rule below, writing DIR/pilot.md, DIR/pilot.csv and DIR/curves.png. Test
accuracy is never read: the study's settings must not depend on it.

The rule. A run has *plateaued* when each of its last `window` epochs is within `tolerance` of its
best validation accuracy. A budget is *enough* for a net when its run has plateaued and its final
validation accuracy is within `tolerance` of the best final validation accuracy of any budget of
that net. The study trains for the smallest budget that is enough for every net.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from prepbench.document import Document
from prepbench.errors import PrepbenchError
from prepbench.io import atomic_write, write_text

WINDOW = 3
TOLERANCE = 0.005  # 0.5 percentage points


def load_curves(tracking_uri: str, experiment: str) -> pd.DataFrame:
    """One row per (net, budget, epoch) with val_accuracy, from the experiment's FINISHED runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise PrepbenchError(f"experiment {experiment!r} not found in {tracking_uri}")
    rows = []
    for run in client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED' and params.prep != ''"):
        net, budget = run.data.params["net"], int(run.data.params["trainer.epochs"])
        for metric in client.get_metric_history(run.info.run_id, "val_accuracy"):
            rows.append(dict(net=net, budget=budget, epoch=metric.step, val_accuracy=metric.value))
    if not rows:
        raise PrepbenchError(f"experiment {experiment!r} has no FINISHED job runs")
    return (
        pd.DataFrame(rows)
        .sort_values(["net", "budget", "epoch"])
        .drop_duplicates(["net", "budget", "epoch"], keep="last")
    )


def decide(curves: pd.DataFrame, window: int = WINDOW, tolerance: float = TOLERANCE) -> tuple[pd.DataFrame, int | None]:
    """Per (net, budget): best, final, plateaued, enough; and the smallest budget enough for every net."""
    rows = []
    for (net, budget), run in curves.groupby(["net", "budget"]):
        acc = run.sort_values("epoch").val_accuracy.to_numpy()
        rows.append(
            dict(
                net=net,
                budget=budget,
                best=acc.max(),
                final=acc[-1],
                plateaued=bool(len(acc) >= window and (acc.max() - acc[-window:]).max() <= tolerance),
            )
        )
    table = pd.DataFrame(rows)
    best_final = table.groupby("net").final.transform("max")
    table["enough"] = table.plateaued & (best_final - table.final <= tolerance)
    nets = table.net.nunique()
    enough = table[table.enough].groupby("budget").net.nunique()
    chosen = enough[enough == nets].index.min() if (enough == nets).any() else None
    return table, (None if chosen is None else int(chosen))


def draw(curves: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = sorted(curves.net.unique())
    fig, axes = plt.subplots(1, len(nets), figsize=(5.5 * len(nets), 4), sharey=True, squeeze=False)
    for ax, net in zip(axes[0], nets):
        for budget, run in curves[curves.net == net].groupby("budget"):
            ax.plot(run.epoch, 100 * run.val_accuracy, marker=".", label=f"{budget} epochs")
        ax.set(title=f"{net}: validation accuracy", xlabel="epoch", ylabel="%")
        ax.grid(alpha=0.3)
        ax.legend(title="cosine schedule over")
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def document(table: pd.DataFrame, chosen: int | None, command: str) -> Document:
    doc = Document()
    doc.h(1, "Pilot: how many epochs")
    doc.p(f"Produced by `{command}`. Validation accuracy only; test accuracy is not read.")
    doc.p(
        f"Rule: a run has plateaued when each of its last {WINDOW} epochs is within {100 * TOLERANCE:.1f} pp of "
        f"its best validation accuracy; a budget is enough for a net when it has plateaued and its final "
        f"validation accuracy is within {100 * TOLERANCE:.1f} pp of the best final accuracy of any budget; "
        "the study trains for the smallest budget that is enough for every net."
    )
    doc.table(
        ["net", "epochs", "best val %", "final val %", "plateaued", "enough"],
        [
            [r.net, r.budget, f"{100 * r.best:.2f}", f"{100 * r.final:.2f}", r.plateaued, r.enough]
            for r in table.itertuples()
        ],
        align="lrrrll",
    )
    doc.p(f"**Chosen: {chosen} epochs.**" if chosen else "**No budget is enough for every net: extend the pilot.**")
    doc.img("curves.png", "validation curves", caption=False)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prepbench.pilot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True, help="the pilot's MLflow experiment")
    parser.add_argument("--tracking-uri", required=True, help="its MLflow store")
    parser.add_argument("--out", required=True, type=Path, help="folder for pilot.md, pilot.csv, curves.png")
    args = parser.parse_args(argv)
    try:
        curves = load_curves(args.tracking_uri, args.experiment)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table, chosen = decide(curves)
    write_text(args.out / "pilot.csv", table.to_csv(index=False))
    draw(curves, args.out / "curves.png")
    command = "python -m prepbench.pilot " + " ".join(argv if argv is not None else sys.argv[1:])
    write_text(args.out / "pilot.md", document(table, chosen, command).markdown())
    print(f"chosen: {chosen} epochs" if chosen else "no budget is enough for every net")
    return 0


if __name__ == "__main__":
    sys.exit(main())
