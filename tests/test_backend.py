"""prepbench.train.backend: a job's Keras backend, set before Keras is imported or refused in one line; and
the smoke study on JAX in a process where TensorFlow cannot be imported (CI's JAX check)."""

import os
import sys

import pytest
from omegaconf import OmegaConf

from prepbench.errors import PrepbenchError
from prepbench.track import tracking
from prepbench.train import backend
from tests._proc import jobs


def test_a_process_already_running_keras_on_another_backend_is_refused():
    import keras

    running = keras.backend.backend()
    other = "jax" if running == "tensorflow" else "tensorflow"
    backend.use(running)  # the same backend: nothing to do
    with pytest.raises(PrepbenchError) as err:
        backend.use(other)
    assert str(err.value) == (
        f"trainer.backend={other} but this process already runs Keras on {running}; expected "
        f"trainer.backend={running} here, or a new process (Keras picks its backend once, at import)"
    )


def test_unknown_or_missing_backends_are_one_line(monkeypatch):
    with pytest.raises(PrepbenchError, match="trainer.backend=torch is unknown; expected tensorflow or jax"):
        backend.use("torch")
    monkeypatch.setattr(backend, "current", lambda: None)  # as if Keras were not imported yet
    monkeypatch.setitem(sys.modules, "jax", None)  # as if JAX were not installed
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(PrepbenchError) as err:
        backend.use("jax")
    assert (
        str(err.value)
        == "trainer.backend=jax but jax is not installed; expected it installed (pip install -e '.[jax]')"
    )
    assert os.environ["KERAS_BACKEND"] == "tensorflow"  # unchanged


def test_before_keras_is_imported_the_backend_and_xla_flags_are_set(monkeypatch, tmp_path):
    pytest.importorskip("jax")
    monkeypatch.setattr(backend, "current", lambda: None)
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    for name in ("KERAS_BACKEND", "XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so what `use` sets is undone after the test
        monkeypatch.delenv(name)
    backend.use("jax", threads=1, deterministic=True, cache_dir=tmp_path)
    assert os.environ["KERAS_BACKEND"] == "jax"
    assert os.environ["XLA_FLAGS"].split() == ["--xla_gpu_deterministic_ops=true", "--xla_cpu_multi_thread_eigen=false"]
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "jax")


def test_the_backend_is_part_of_the_config_hash():
    base = dict(seed=0, prep=dict(name="none"), trainer=dict(epochs=1, backend="tensorflow"))
    tf_job = OmegaConf.create(base)
    jax_job = OmegaConf.merge(base, dict(trainer=dict(backend="jax")))
    assert tracking.config_hash(tf_job) != tracking.config_hash(jax_job)


def test_the_device_is_named():
    import keras  # noqa: F401 (the device of the backend this process runs)

    assert backend.device() == "cpu" or backend.device().startswith("gpu: ")


@pytest.mark.slow
def test_the_smoke_study_runs_on_jax_without_tensorflow(tmp_path):
    """`tests/without_tensorflow.py` makes `import tensorflow` fail: anything on the JAX path that
    touched TensorFlow would fail the jobs. Tiny networks, 1 epoch: JAX compiles every network once."""
    pytest.importorskip("jax")
    import subprocess

    from tests._proc import ROOT, argv, env

    command = argv(
        "-m",
        "experiment=smoke",
        "trainer.backend=jax",
        "trainer.epochs=1",
        "net.width=4",
        "net.dense=8",
        store=tmp_path,
    )
    command[1:3] = [str(ROOT / "tests" / "without_tensorflow.py")]  # instead of `-m prepbench`
    out = subprocess.run(command, cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "sweep smoke: 6 job(s) finished, 0 failed" in out.stdout
    runs = jobs(tmp_path, "smoke")
    assert len(runs) == 6 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        assert run.data.params["trainer.backend"] == "jax" and run.data.params["device"] == "cpu"
        assert 0 <= run.data.metrics["test_accuracy"] <= 1
