"""What a call brings back: the store's jobs (outcome), the store packed into archives small enough to
come back from the device machine, and a previous call's archive unpacked as the store (--resume)."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

TAR_LIMIT = 15 * 2**20  # a file that comes back from the device machine: at most 16 MiB
# The overrides every job of a call has (prepbench.gpu.plan.overrides_for): the rest is its cell.
RUNNER_KEYS = (
    "experiment",
    "prep",
    "net",
    "seed",
    "trainer.backend",
    "data",
    "data.path",
    "tracking.uri",
    "tracking.artifact_location",
)


def cell_of(overrides: list[str]) -> list[str]:
    """A job's overrides besides the runner's own: its grid cell (`net.depth=3`), sorted."""
    return sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+") not in RUNNER_KEYS)


def outcome(store: Path, experiment: str) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    runs = [] if exp is None else client.search_runs([exp.experiment_id], max_results=5000)
    jobs = []
    for r in runs:
        if r.data.tags.get("prepbench.role") != "job":
            continue
        m, p = r.data.metrics, r.data.params
        overrides = json.loads(r.data.tags.get("prepbench.overrides", "[]"))
        jobs.append(
            {
                "prep": p.get("prep"),
                # the sweep's choice: prep=zca_reg logs prep `zca` with its own epsilon
                "prep_choice": next((o.split("=", 1)[1] for o in overrides if o.startswith("prep=")), p.get("prep")),
                "net": p.get("net"),
                "seed": int(p.get("seed", -1)),
                "status": r.info.status,
                "test_accuracy": m.get("test_accuracy"),
                "fit_seconds": m.get("fit_seconds"),
                "train_images_per_second": m.get("train_images_per_second"),
                "precision": p.get("trainer.precision"),
                "device": p.get("device"),
                "epochs": p.get("trainer.epochs"),
                "train_size": p.get("data.train_size"),
                "cell": cell_of(overrides),
            }
        )
    return {"jobs": sorted(jobs, key=lambda j: (j["seed"], j["net"], j["prep"], str(j["train_size"])))}


def resume(archive_path: Path, store: Path, name: str) -> list[dict]:
    """Unpack a previous call's archive (<name>/ inside), and its artifact parts if they lie beside
    it (archive), as the store; returns its calls' gpu.json."""
    stem = archive_path.name.removesuffix(".tar.gz")
    for path in [archive_path, *sorted(archive_path.parent.glob(f"{stem}-artifacts-*.tar.gz"))]:
        with tarfile.open(path) as tar:
            tar.extractall(store.parent / f".{name}-resume", filter="data")
    shutil.move(store.parent / f".{name}-resume" / name, store)
    shutil.rmtree(store.parent / f".{name}-resume")
    earlier = json.loads((store / "gpu.json").read_text())
    return [*earlier.pop("earlier_calls", []), earlier]


def archive(store: Path, out: Path, name: str) -> list[Path]:
    """OUT/<name>.tar.gz holding the store as <name>/; if that is over TAR_LIMIT (a file that big
    would not come back from the device machine), the store without its artifacts there, and the
    artifacts in parts of at most TAR_LIMIT bytes before compression, a run's folder whole in one:
    OUT/<name>-artifacts-1.tar.gz, -2, ..."""
    whole = out / f"{name}.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        tar.add(store, arcname=name)
    artifacts = store / "mlartifacts"
    if whole.stat().st_size <= TAR_LIMIT or not artifacts.exists():
        return [whole]
    with tarfile.open(whole, "w:gz") as tar:
        tar.add(store, arcname=name, filter=lambda info: None if info.name.startswith(f"{name}/mlartifacts") else info)
    parts: list[list[Path]] = [[]]
    used = 0
    for run in sorted(p for p in artifacts.glob("*/*") if p.is_dir()):  # mlartifacts/<experiment>/<run>
        size = sum(f.stat().st_size for f in run.rglob("*") if f.is_file())
        if parts[-1] and used + size > TAR_LIMIT:
            parts.append([])
            used = 0
        parts[-1].append(run)
        used += size
    paths = []
    for k, runs in enumerate(parts, 1):
        path = out / f"{name}-artifacts-{k}.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for run in runs:
                tar.add(run, arcname=f"{name}/{run.relative_to(store)}")
        paths.append(path)
    return [whole, *paths]
