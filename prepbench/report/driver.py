"""`python -m prepbench.report`: load, select, analyse, draw, write; a short driver over the parts."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from prepbench.errors import PrepbenchError
from prepbench.io import write_text
from prepbench.report import document, load, stats, wording
from prepbench.report.analysis import Analysis, analyse
from prepbench.report.figures import draw_all
from prepbench.report.select import Spec, select
from prepbench.track import tracking, ui

USAGE = """The research report of one study: what was compared, how big each effect is, how sure we
are, and what that says about "preprocessing helps shallow networks more than deep ones".

  python -m prepbench.report --experiment NAME [--tracking-uri URI] --out DIR
  python -m prepbench.report --runs-csv results/cpu/runs.csv --out DIR   (recompute a published study)

writes DIR/report.md, DIR/report.html (self-contained), DIR/runs.csv (every job run, with the
columns superseded_by and left_out), DIR/summary.csv, DIR/effects.csv and DIR/figures/*.png, then
logs DIR under `report/` of the experiment's newest sweep parent run (unless --no-log-artifact)."""

RUN_LEAD = [
    "variant",
    "moderator",
    "seed",
    "status",
    "test_accuracy",
    "superseded",
    "superseded_by",
    "left_out",
    "run_id",
    "run_name",
    "start_time",
    "end_time",
]


def runs_table(a: Analysis) -> pd.DataFrame:
    """Every job run (analysed or not), the report's columns first."""
    runs = a.selection.runs.assign(superseded=a.selection.runs["superseded_by"].notna())
    rest = sorted(c for c in runs.columns if c not in RUN_LEAD and c.startswith(("params.", "metrics.", "tags.")))
    return runs.reindex(columns=[c for c in RUN_LEAD if c in runs.columns] + rest).sort_values(
        ["left_out", "variant", "moderator", "seed", "start_time"], na_position="last"
    )


def _log(loaded: load.Loaded, parents: pd.DataFrame, out: Path) -> None:
    """A copy of `out` under report/ of the newest sweep parent run (out may lie in the artifact store)."""
    newest = parents.sort_values("start_time").iloc[-1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(out, Path(tmp) / "report")
            loaded.client.log_artifacts(newest["run_id"], str(Path(tmp) / "report"), artifact_path="report")
    except Exception as err:  # the report exists even if the artifact store is unreachable
        print(f"warning: could not log the report to run {newest['run_id']}: {err}", file=sys.stderr)


VERIFY_FILES = ("verify.md", "verify-dirty.md")  # what `python -m prepbench.verify --out` wrote beside the report


def verification_summary(out: Path) -> list[str]:
    """One line per verification table beside the report: its file and the count of each verdict
    (the fifth column of the table prepbench.study.verify writes)."""
    lines = []
    for name in VERIFY_FILES:
        path = out / name
        if not path.is_file():
            continue
        rows = [line.split(" | ") for line in path.read_text().splitlines() if line.startswith("| ") and "`" in line]
        counts: dict[str, int] = {}
        for row in rows:
            if len(row) >= 6:
                counts[row[4].strip()] = counts.get(row[4].strip(), 0) + 1
        if counts:
            lines.append(f"[{name}]({name}): " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items()))
    return lines


def check_out_dir(out: Path) -> None:
    """--out must be, or be creatable as, a writable directory: said before the store is read."""
    existing = next(p for p in (out, *out.parents) if p.exists() or p == Path(p.anchor or "."))
    if not existing.is_dir():
        what = "is a file" if existing == out else f"lies under {existing}, which is a file"
        raise PrepbenchError(f"--out {out} {what}; expected a directory (created if missing)")
    if not os.access(existing, os.W_OK):
        raise PrepbenchError(f"--out {out}: {existing} is not writable; expected a writable directory")


def write_report(
    experiment: str | None,
    out: str | Path,
    tracking_uri: str | None = None,
    spec: Spec | None = None,
    log_artifact: bool = True,
    runs_csv: str | None = None,
    command: str = "",
) -> Path:
    """Reads the runs (MLflow experiment, or a runs.csv), writes the report into `out`, and (if
    `log_artifact`) logs it to the experiment's newest sweep parent run. Returns `out`."""
    spec = spec or Spec()
    if not 0 < spec.level < 1:
        raise PrepbenchError(f"--level must lie strictly between 0 and 1, got {spec.level}")
    check_out_dir(Path(out))
    if runs_csv:
        loaded = load.load_runs_csv(runs_csv)
        experiment = experiment or Path(runs_csv).parent.name
    else:
        tracking_uri = tracking_uri or load.default_tracking_uri(experiment)
        loaded = load.load_experiment(tracking_uri, experiment)
    try:
        sel = select(loaded.runs, spec)
    except PrepbenchError as err:
        raise PrepbenchError(
            f"experiment {experiment!r} {err}" if str(err).startswith(("has no", "no job")) else str(err)
        ) from None
    if loaded.client is not None and log_artifact:  # the dashboard's view leaves out what the report does
        runs = sel.runs.set_index("run_id")
        tag = f"tags.{tracking.SUPERSEDED_TAG}"
        tracking.tag_superseded(
            loaded.client,
            runs["superseded_by"].dropna().to_dict(),
            runs[tag].where(runs[tag].notna(), None).to_dict() if tag in runs else {},
        )
    analysed = sel.cells.loc[sel.cells["status"] == "FINISHED", "run_id"].tolist()
    curves = load.load_curves(loaded.client, analysed)
    a = analyse(sel, curves, experiment, loaded.seeds_plan, loaded.seeds_stops)
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for old in (out / "figures").glob("*.png"):
        old.unlink()
    figures = draw_all(a, out / "figures")
    write_text(out / "runs.csv", runs_table(a).to_csv(index=False))
    write_text(out / "summary.csv", a.summary.to_csv(index=False))
    write_text(out / "effects.csv", a.effects.to_csv(index=False))
    links = ui.report_links(loaded.client, experiment, tracking_uri, analysed) if loaded.client is not None else None
    doc = document.build(
        a,
        loaded.source,
        figures,
        command or f"python -m prepbench.report --experiment {experiment} --out {out}",
        links,
        verification=verification_summary(out),
    )
    write_text(out / "report.md", doc.markdown())
    write_text(out / "report.html", doc.html(out, f"prepbench report: {experiment}"))
    if log_artifact and loaded.client is not None and len(sel.parents):
        _log(loaded, sel.parents, out)
    print(f"report written to {out / 'report.md'} and {out / 'report.html'}")
    if links:
        print(wording.dashboard_sentence(links, markdown=False))
    return out


def parse_where(items: list[str]) -> tuple:
    out = []
    for item in items or []:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise PrepbenchError(
                f"--where {item} is malformed; expected KEY=VALUE or KEY=V1,V2 (e.g. data.train_size=2500)"
            )
        out.append((key.strip(), tuple(v.strip() for v in values.split(","))))
    return tuple(out)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m prepbench.report", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--experiment", help="MLflow experiment (= study) name")
    src.add_argument("--runs-csv", help="a runs.csv written by an earlier report, instead of MLflow (no curves)")
    ap.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: the study's own store, tracking.uri of experiments/NAME.yaml, "
        "else the embedded store of conf/tracking/mlflow.yaml)",
    )
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--treatment", default="prep", help="the param whose values are compared (default prep)")
    ap.add_argument("--baseline", default=None, help="the treatment value others are compared with (default none)")
    ap.add_argument(
        "--moderator",
        default="net",
        help="the param whose levels the benefits are compared across (default net; e.g. net.depth, data.train_size)",
    )
    ap.add_argument(
        "--where",
        action="append",
        metavar="KEY=V1,V2",
        help="analyse only runs with these settings (repeatable); default: the most common context. "
        "prep=zca_shrunk (an option of conf/prep/ that is no run's name) selects that option's settings exactly",
    )
    ap.add_argument(
        "--exact-options",
        action="store_true",
        help="each prep/net value of --where that is an option of conf/ selects exactly that option's settings, "
        "even where runs bear its name (prep=raw leaves out raw with prep.batchnorm=true)",
    )
    ap.add_argument("--level", type=float, default=stats.LEVEL, help=f"confidence level (default {stats.LEVEL})")
    ap.add_argument("--no-log-artifact", action="store_true", help="do not log the report to the sweep's parent run")
    return ap


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        if args.treatment != "prep" and args.baseline is None:
            raise PrepbenchError(
                f"--treatment {args.treatment} needs --baseline VALUE; expected the value the others are compared with"
            )
        spec = Spec(
            treatment=args.treatment,
            baseline=args.baseline or "none",
            moderator=args.moderator,
            where=parse_where(args.where),
            exact_options=args.exact_options,
            level=args.level,
        )
        write_report(
            args.experiment,
            args.out,
            args.tracking_uri,
            spec,
            not args.no_log_artifact,
            args.runs_csv,
            "python -m prepbench.report " + " ".join(shlex.quote(a) for a in argv),
        )
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
