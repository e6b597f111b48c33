"""prepbench.study.job: what the jobs run by one process share (prepbench.data.cache.JobCache), and only then.

The training is replaced by a stand-in that prepares the arrays as the real input pipeline does
(batches.prepared_arrays) and reports a result at once, so the jobs run in seconds and FINISH."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from prepbench.config import compose
from prepbench.data.cache import JobCache
from prepbench.track import tracking
from prepbench.train.batches import prepared_arrays
from tests._proc import jobs

SMALL = ["data=synthetic", "net=shallow", "net.width=4", "net.dense=8", "prep=std"]


class _Training:
    """Stands in for prepbench.train.fit: the real prepared_arrays, no network."""

    def __init__(self, real):
        self.real = real

    def configure_tensorflow(self, **kwargs):
        pass

    def make_inputs(self, splits, p, *, cache=None, **kwargs):
        x_train, _, _ = prepared_arrays(splits, p, cache)
        return SimpleNamespace(peek=lambda: x_train[:4])

    def fit_and_evaluate(self, inputs, **kwargs):
        return self.real.TrainResult(test_accuracy=0.5, test_loss=1.0)


@pytest.fixture
def counted(tmp_path, monkeypatch):
    """(run two jobs, the calls counted): decodes (load_splits) and transforms (Preprocessor.transform)."""
    import prepbench
    import prepbench.study.job
    import prepbench.train
    from prepbench.prep.preprocessor import Preprocessor
    from prepbench.train import fit as real

    monkeypatch.setenv("PREPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(tracking.PARENT_RUN_ENV, raising=False)
    fake = _Training(real)
    monkeypatch.setitem(sys.modules, "prepbench.train.fit", fake)
    monkeypatch.setattr(prepbench.train, "fit", fake, raising=False)
    calls = {"decode": 0, "transform": 0}
    load_splits, transform = prepbench.study.job.load_splits, Preprocessor.transform

    def counting_load(data_cfg):
        calls["decode"] += 1
        return load_splits(data_cfg)

    def counting_transform(self, x):
        calls["transform"] += 1
        return transform(self, x)

    monkeypatch.setattr(prepbench.study.job, "load_splits", counting_load)
    monkeypatch.setattr(Preprocessor, "transform", counting_transform)

    def run_two(first_cache, second_cache):
        statuses = []
        for seed, cache in ((0, first_cache), (1, second_cache)):
            cfg = compose(
                [
                    *SMALL,
                    f"seed={seed}",
                    "study=cache",
                    f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
                    f"tracking.artifact_location={tmp_path}/art",
                ]
            )
            statuses.append(prepbench.study.job.run_job(cfg, [f"seed={seed}"], cache=cache))
        return statuses

    return run_two, calls


def test_two_jobs_sharing_a_cache_decode_the_data_once_and_transform_the_variant_once(counted, tmp_path):
    run_two, calls = counted
    cache = JobCache()
    assert run_two(cache, cache) == ["finished", "finished"]
    assert calls == {"decode": 1, "transform": 3}  # train, val and test, for both jobs
    assert sorted(r.info.status for r in jobs(tmp_path, "cache")) == ["FINISHED", "FINISHED"]


@pytest.mark.parametrize("shared", ["none", "separate"])
def test_jobs_without_a_shared_cache_share_nothing(counted, shared):
    run_two, calls = counted
    caches = (None, None) if shared == "none" else (JobCache(), JobCache())
    assert run_two(*caches) == ["finished", "finished"]
    assert calls == {"decode": 2, "transform": 6}


def test_the_cache_keeps_the_two_most_recently_used_entries():
    cache, made = JobCache(), []

    def make(key):
        return lambda: made.append(key) or key

    for key in ("a", "b", "a", "c", "a", "b"):
        cache.prepared(key, make(key))
    assert made == ["a", "b", "c", "b"]  # "a", used last before "c", stayed; "b" was dropped for "c"
    assert cache.splits("a", make("data")) == "data"  # a map of its own
