"""Settings a study needs, decided on validation accuracy only, before the study runs.

    python -m prepbench.pilot --experiment converged-pilot --tracking-uri URI --out DIR
    python -m prepbench.pilot --experiment converged-zca-pilot --choose prep.zca_shrinkage --tracking-uri URI --out DIR

reads the pilot's FINISHED runs from MLflow and applies a rule fixed before the pilot ran, writing
DIR/pilot.md, DIR/pilot.csv and a figure. Test accuracy is never read: the study's settings must not
depend on it.

How many epochs (one variant, each net at several `trainer.epochs` budgets). A run has *plateaued*
when each of its last `window` epochs is within `tolerance` of its best validation accuracy. A budget
is *enough* for a net when its run has plateaued and its final validation accuracy is within
`tolerance` of the best final validation accuracy of any budget of that net. The study trains for the
smallest budget that is enough for every net.

Which value of a setting (`--choose KEY`, each net at several values of KEY and several seeds). A
value's score is its final validation accuracy averaged over seeds, then over the nets (each net
weighs the same); the study uses the value with the highest score. Every value and net must have
the same seeds FINISHED, and, where the pilot has an experiment file (experiments/EXPERIMENT.yaml),
every value, seed and net it sweeps: a pilot part-way through is refused, never scored. Whether the
chosen value's runs have plateaued, by the rule above, is reported beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from prepbench import ROOT
from prepbench.document import Document
from prepbench.errors import PrepbenchError
from prepbench.io import atomic_write, write_text

WINDOW = 3
TOLERANCE = 0.005  # 0.5 percentage points


def plateaued(acc, window: int = WINDOW, tolerance: float = TOLERANCE) -> bool:
    """Each of the last `window` epochs within `tolerance` of the run's best validation accuracy."""
    return bool(len(acc) >= window and (max(acc) - min(acc[-window:])) <= tolerance)


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
    grid = planned(experiment)
    if grid is not None and "trainer.epochs" in grid:
        have = {(r["net"], r["budget"]) for r in rows}
        nets = grid.get("net", sorted({net for net, _ in have}))
        missing = [(n, int(b)) for b in grid["trainer.epochs"] for n in nets if (n, int(b)) not in have]
        if missing:
            raise PrepbenchError(
                f"pilot incomplete: {missing[0][0]} at trainer.epochs={missing[0][1]} has no FINISHED run; expected "
                "every net at every budget its experiment file sweeps (run the pilot's sweep again: it runs only "
                "what is missing)"
            )
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
                plateaued=plateaued(acc, window, tolerance),
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


def load_finals(tracking_uri: str, experiment: str, key: str) -> pd.DataFrame:
    """One row per FINISHED job run: net, value (of `key`), seed, val_accuracy, train_accuracy (final),
    and whether its validation curve has plateaued."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise PrepbenchError(f"experiment {experiment!r} not found in {tracking_uri}")
    rows = []
    for run in client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED' and params.prep != ''"):
        params, metrics = run.data.params, run.data.metrics
        if key not in params:
            raise PrepbenchError(
                f"--choose {key}: run {run.info.run_id} has no param {key}; expected a key the pilot varies"
            )
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        rows.append(
            dict(
                net=params["net"],
                value=float(params[key]),
                seed=int(params["seed"]),
                val_accuracy=metrics.get("val_accuracy"),
                train_accuracy=metrics.get("train_accuracy"),
                plateaued=plateaued([m.value for m in sorted(history, key=lambda m: m.step)]),
            )
        )
    if not rows:
        raise PrepbenchError(f"experiment {experiment!r} has no FINISHED job runs")
    finals = pd.DataFrame(rows)
    complete(finals, key, planned(experiment))
    return finals


def planned(experiment: str) -> dict[str, list[str]] | None:
    """Each key that experiments/EXPERIMENT.yaml sweeps, with its values in sweep order (`seed`
    included); None where the pilot has no such file."""
    if not (ROOT / "experiments" / f"{experiment}.yaml").exists():
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from prepbench.study.seeds import compose_study

    _, params, seeds = compose_study([f"experiment={experiment}"])
    grid = {"seed": [str(s) for s in seeds]}
    for key, value in params.items():
        (override,) = OverridesParser.create().parse_overrides([f"{key}={value}"])
        grid.setdefault(
            key, [str(v) for v in override.sweep_string_iterator()] if override.is_sweep_override() else [value]
        )
    return grid


def complete(finals: pd.DataFrame, key: str, grid: dict[str, list[str]] | None = None) -> None:
    """The rule averages the same seeds for every value and net: a pilot stopped part-way is refused,
    not scored on fewer seeds for some values, nor on the values and seeds it has reached so far of
    those its experiment file sweeps (`grid`, from `planned`)."""
    if grid is not None and key in grid:
        seeds, values = [int(s) for s in grid["seed"]], [float(v) for v in grid[key]]
        nets = grid.get("net", sorted(set(finals.net)))
        have = set(zip(finals.value, finals.seed, finals.net, strict=True))
        planned_runs = [(v, s, n) for s in seeds for v in values for n in nets]
        missing = [run for run in planned_runs if run not in have]
        if missing:
            value, seed, net = missing[0]
            raise PrepbenchError(
                f"pilot incomplete: {key}={value:g} seed {seed} on {net} has no FINISHED run, and "
                f"{len(missing) - 1} more of the {len(planned_runs)} runs its experiment file sweeps; expected "
                "every run (run the pilot's sweep again: it runs only what is missing)"
            )
    seeds = finals.groupby(["value", "net"]).seed.agg(lambda s: tuple(sorted(set(s))))
    expected = tuple(sorted(set(finals.seed)))
    short = seeds[seeds != expected]
    if len(short):
        (value, net), have = next(iter(short.items()))
        raise PrepbenchError(
            f"pilot incomplete: {key}={value:g} on {net} has FINISHED seeds {list(have)}; expected seeds "
            f"{list(expected)} for every value and net (run the pilot's sweep again: it runs only what is missing)"
        )


def choose(finals: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Per value: each net's mean and sd of final validation accuracy over seeds, the seeds, the mean
    final training accuracy, the score (the nets' means averaged) and how many of its runs have
    plateaued; the value with the best score."""
    per_net = finals.groupby(["value", "net"]).agg(
        val=("val_accuracy", "mean"),
        sd=("val_accuracy", "std"),
        seeds=("seed", "nunique"),
        train=("train_accuracy", "mean"),
    )
    table = per_net.unstack("net")
    table.columns = [f"{stat}_{net}" for stat, net in table.columns]
    table["score"] = per_net["val"].groupby("value").mean()
    table["plateaued"] = finals.groupby("value").plateaued.sum()
    table["runs"] = finals.groupby("value").size()
    table = table.reset_index()
    return table, float(table.loc[table.score.idxmax(), "value"])


def draw_choice(finals: pd.DataFrame, key: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for net, runs in finals.groupby("net"):
        means = runs.groupby("value").val_accuracy.mean()
        line = ax.plot(means.index, 100 * means.to_numpy(), marker="o", label=f"{net}: mean over seeds")
        ax.scatter(runs.value, 100 * runs.val_accuracy, color=line[0].get_color(), alpha=0.35, s=14)
    ax.set_xscale("log")
    ax.set(title=f"final validation accuracy by {key}", xlabel=key, ylabel="%")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def choice_document(table: pd.DataFrame, chosen: float, key: str, command: str) -> Document:
    nets = sorted(c[len("val_") :] for c in table.columns if c.startswith("val_"))
    doc = Document()
    doc.h(1, f"Pilot: which {key}")
    doc.p(f"Produced by `{command}`. Validation accuracy only; test accuracy is not read.")
    doc.p(
        "Rule, fixed before the pilot ran: a value's score is its final validation accuracy averaged over "
        "the seeds, then over the nets (each net weighs the same); the study uses the value with the highest "
        "score. Final training accuracy is shown beside it: how much of the training set the net memorized."
    )
    head = [key] + [f"{net} val % (sd, seeds)" for net in nets] + [f"{net} train %" for net in nets]
    head += ["score %", "plateaued runs"]
    rows = []
    for r in table.to_dict("records"):
        vals = [f"{100 * r[f'val_{n}']:.2f} (±{100 * r[f'sd_{n}']:.2f}, {int(r[f'seeds_{n}'])})" for n in nets]
        trains = [f"{100 * r[f'train_{n}']:.1f}" for n in nets]
        rows.append([f"{r['value']:g}", *vals, *trains, f"{100 * r['score']:.2f}", f"{r['plateaued']}/{r['runs']}"])
    doc.table(head, rows, align="l" + "r" * (len(head) - 1))
    doc.p(f"**Chosen: {key}={chosen:g}.**")
    at = table.set_index("value").loc[chosen, ["plateaued", "runs"]].astype(int)
    doc.p(
        f"Plateau, the epoch pilot's rule (each of a run's last {WINDOW} epochs within {100 * TOLERANCE:.1f} pp "
        f"of its best validation accuracy): {at['plateaued']} of the chosen value's {at['runs']} runs have "
        + ("plateaued." if at["plateaued"] == at["runs"] else "plateaued, so its budget may be short of the plateau.")
    )
    doc.img("choice.png", f"final validation accuracy by {key}", caption=False)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prepbench.pilot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True, help="the pilot's MLflow experiment")
    parser.add_argument("--tracking-uri", required=True, help="its MLflow store")
    parser.add_argument("--out", required=True, type=Path, help="folder for pilot.md, pilot.csv and the figure")
    parser.add_argument("--choose", metavar="KEY", help="choose a value of this param (prep.zca_shrinkage), not epochs")
    args = parser.parse_args(argv)
    command = "python -m prepbench.pilot " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        if args.choose:
            finals = load_finals(args.tracking_uri, args.experiment, args.choose)
        else:
            curves = load_curves(args.tracking_uri, args.experiment)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.choose:
        table, value = choose(finals)
        write_text(args.out / "pilot.csv", table.to_csv(index=False))
        draw_choice(finals, args.choose, args.out / "choice.png")
        write_text(args.out / "pilot.md", choice_document(table, value, args.choose, command).markdown())
        print(f"chosen: {args.choose}={value:g}")
        return 0
    table, chosen = decide(curves)
    write_text(args.out / "pilot.csv", table.to_csv(index=False))
    draw(curves, args.out / "curves.png")
    write_text(args.out / "pilot.md", document(table, chosen, command).markdown())
    print(f"chosen: {chosen} epochs" if chosen else "no budget is enough for every net")
    return 0


if __name__ == "__main__":
    sys.exit(main())
