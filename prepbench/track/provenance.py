"""Where a result came from: the code's commit, the library versions, the hardware, the data's name.

Every tool that writes results (jobs' MLflow tags, the bench, the memo, the report) takes these
from here, so they describe a run the same way.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from prepbench import ROOT

# The CIFAR-10 copy shared beside the repository (JPEG, quality 75); see ../shared/data/README.md.
SHARED_ZIP = ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"
OFFICIAL_NAME = "CIFAR-10 (official release)"
JPEG_COPY_NAME = "CIFAR-10 (JPEG q75 copy)"
# Either backend may be absent (TensorFlow on a JAX machine); mlflow-skinny may stand in for mlflow.
LIBRARIES = (
    "tensorflow",
    "jax",
    "jaxlib",
    "keras",
    "numpy",
    "pandas",
    "mlflow",
    "mlflow-skinny",
    "hydra-core",
    "scipy",
)


# Studies keep their MLflow stores under results/ and commit them as they grow: a store changing
# under a running study is not a change to the code that trains it.
RESULTS_DIR = "results"
# Where a new file is new code (a module, a config group's option, an experiment) that a run would
# use though no commit holds it. New files elsewhere (notes, plots) are not the code.
CODE_DIRS = ("prepbench", "conf", "experiments")


# Outside a git checkout (a copy of the tree on a GPU machine), the commit the code was stamped with
# (prepbench.gpu.stamp checks the copy against it and sets this for the call's processes).
CODE_COMMIT_ENV = "PREPBENCH_CODE_COMMIT"


@cache
def git_commit(short: bool = False, paths: tuple[str, ...] = ()) -> str:
    """The checked-out commit, with "-dirty" when it is not all the code that runs: uncommitted
    changes (`uncommitted_files`, under `paths` when given); outside a git checkout,
    $PREPBENCH_CODE_COMMIT (prepbench.gpu.stamp), else "unknown"."""
    try:
        commit = _git("rev-parse", *(["--short"] if short else []), "HEAD")
        dirty = uncommitted_files(paths)
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get(CODE_COMMIT_ENV) or "unknown"
    return commit + ("-dirty" if dirty else "")


def uncommitted_files(paths: tuple[str, ...] = ()) -> list[str]:
    """Files no commit holds as they are: tracked files with uncommitted changes (under `paths`, or
    anywhere outside results/), then files git neither tracks nor ignores (under `paths`, or under
    CODE_DIRS)."""
    spec = list(paths) or [".", f":(exclude){RESULTS_DIR}"]
    changed = _git("diff", "HEAD", "--name-only", "--", *spec).splitlines()
    return changed + _untracked(paths)


def _untracked(paths: tuple[str, ...] = ()) -> list[str]:
    return _git("ls-files", "--others", "--exclude-standard", "--", *(paths or CODE_DIRS)).splitlines()


def uncommitted_diff() -> str:
    """The uncommitted changes outside results/ as a patch, new code files included (what a -dirty
    run ran)."""
    try:
        patch = _git("diff", "HEAD", "--", ".", f":(exclude){RESULTS_DIR}")
        new = [_new_file_patch(path) for path in _untracked()]
    except (OSError, subprocess.CalledProcessError):
        return ""
    return "\n".join(filter(None, [patch, *new]))


def _new_file_patch(path: str) -> str:
    """A file git does not track, as a patch that creates it (`git diff --no-index` exits 1 when the
    two sides differ, as they do here)."""
    done = subprocess.run(
        ["git", "diff", "--no-index", "--", os.devnull, path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        errors="replace",
    )
    return done.stdout.strip()


def study_store(tracking_uri: str) -> Path | None:
    """The store's path when it is a study's own store: a local store under results/ that git does
    not ignore (committed with its study, so its runs are published); else None (results/mlflow.db,
    the default store, is ignored; a store elsewhere or on a server is nobody's publication)."""
    scheme, _, rest = tracking_uri.partition(":")
    if scheme == "sqlite" and rest.startswith("///"):
        path = Path(rest[3:])  # sqlite:///relative/path, sqlite:////absolute/path
    elif scheme == "file":
        path = Path(urlparse(tracking_uri).path)
    else:
        return None
    path = path.resolve()
    try:
        inside = path.relative_to((ROOT / RESULTS_DIR).resolve())
    except ValueError:
        return None
    probe = f"{RESULTS_DIR}/{inside}" + ("/meta.yaml" if scheme == "file" else "")  # a file store is a folder
    try:
        subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT, check=True, capture_output=True)
    except subprocess.CalledProcessError as err:
        return path if err.returncode == 1 else None  # 1: not ignored; 128: not a git checkout
    except OSError:
        return None
    return None


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def versions() -> dict[str, str]:
    """Python's version and those of the libraries that change results (those installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            found[lib] = version(lib)
        except PackageNotFoundError:
            pass
    return found


def hardware() -> str:
    """ "<CPU model> x<cores>; no GPU" or "...; GPU: <devices>" (GPUs seen only once the Keras backend is imported)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpus = ""
    from prepbench.train.backend import current

    if current() == "jax":
        import jax

        gpus = ", ".join(d.device_kind for d in jax.devices() if d.platform != "cpu")
    elif sys.modules.get("tensorflow") is not None:
        import tensorflow as tf

        gpus = ", ".join(d.name for d in tf.config.list_physical_devices("GPU"))
    return f"{cpu} x{os.cpu_count()}" + (f"; GPU: {gpus}" if gpus else "; no GPU")


def data_name(source: str, path: str | Path | None = None) -> str:
    """How results name their data: results on the shared JPEG re-encoding must say so."""
    if source == "cifar10":
        return OFFICIAL_NAME
    if source == "folder" and path is not None and Path(str(path)).name == SHARED_ZIP.name:
        return JPEG_COPY_NAME
    if source == "folder":
        return "an image folder" if path is None else f"the image folder {path}"
    return {"synthetic": "synthetic images"}.get(source, source)
