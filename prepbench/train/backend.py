"""Which Keras backend a job trains on (`trainer.backend`: tensorflow or jax), and on which device.

Keras reads KERAS_BACKEND once, when it is first imported, and cannot switch afterwards. A job
therefore calls `use(cfg.trainer.backend)` before anything imports Keras: it sets the variable (and,
for JAX, XLA's flags, which XLA also reads once), or refuses with one line when this process already
runs Keras on another backend (a notebook, a sweep over trainer.backend in one process).

The backend is part of a job's identity (its config hash); the device it ran on is logged beside
it (param `device`), not hashed: the same job on another GPU is the same job.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from prepbench.errors import PrepbenchError

BACKENDS = ("tensorflow", "jax")
_INSTALL = {"tensorflow": "pip install -e .", "jax": "pip install -e '.[jax]'"}


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (None in sys.modules: blocked)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def current() -> str | None:
    """The backend of the Keras already imported in this process, or None if Keras is not imported."""
    keras = sys.modules.get("keras")
    return None if keras is None else keras.backend.backend()


def use(backend: str, *, threads: int = 0, deterministic: bool = False, cache_dir=None) -> None:
    """Make `backend` the Keras backend of this process, or raise PrepbenchError (one line). On JAX,
    compiled programs are cached under `cache_dir`/jax, so jobs of one architecture compile once."""
    if backend not in BACKENDS:
        raise PrepbenchError(f"trainer.backend={backend} is unknown; expected {' or '.join(BACKENDS)}")
    running = current()
    if running is not None:
        if running != backend:
            raise PrepbenchError(
                f"trainer.backend={backend} but this process already runs Keras on {running}; expected "
                f"trainer.backend={running} here, or a new process (Keras picks its backend once, at import)"
            )
        return
    if not installed(backend):
        raise PrepbenchError(
            f"trainer.backend={backend} but {backend} is not installed; expected it installed ({_INSTALL[backend]})"
        )
    os.environ["KERAS_BACKEND"] = backend
    if backend == "jax" and "jax" not in sys.modules:  # XLA reads its flags once, at start-up
        flags = os.environ.get("XLA_FLAGS", "").split()
        if deterministic:
            flags.append("--xla_gpu_deterministic_ops=true")  # XLA on CPU is deterministic already
        if threads == 1:  # parallel CPU jobs with one core each (Hydra's joblib launcher)
            flags.append("--xla_cpu_multi_thread_eigen=false")
        if flags:
            os.environ["XLA_FLAGS"] = " ".join(flags)
        if cache_dir is not None:
            os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(str(cache_dir), "jax"))
        import logging

        logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "Unable to initialize backend 'tpu'"


def device() -> str:
    """Where Keras computes: `cpu`, or `gpu: <name>` (the first accelerator the backend uses)."""
    match current():
        case "jax":
            import jax

            first = jax.devices()[0]
            return "cpu" if first.platform == "cpu" else f"{first.platform}: {first.device_kind}"
        case "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                return "cpu"
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"gpu: {details.get('device_name', gpus[0].name)}"
    return "unknown"
