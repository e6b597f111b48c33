"""prepbench.train.budget: epochs, or optimizer steps whatever the data size."""

import mlflow
import pytest
from omegaconf import OmegaConf

from prepbench.errors import PrepbenchError
from prepbench.train import budget
from tests._proc import TINY, prepbench


def trainer(**kw):
    return OmegaConf.create(
        dict(epochs=30, batch_size=128, lr=1e-3, schedule="cosine", warmup_epochs=1, steps=None, warmup_steps=None) | kw
    )


def test_epochs_without_steps_and_equal_steps_across_data_sizes_with_them():
    b = budget.resolve(trainer(), 10_000)
    assert (b.epochs, b.steps_per_epoch, b.steps, b.warmup_steps) == (30, 79, 2370, 79)
    assert budget.resolve(trainer(), 2_500).steps == 30 * 20  # fixed epochs: a quarter of the steps
    ladder = {n: budget.resolve(trainer(steps=2370, warmup_steps=79), n) for n in (1_250, 2_500, 5_000, 10_000)}
    assert {n: b.epochs for n, b in ladder.items()} == {1_250: 237, 2_500: 119, 5_000: 59, 10_000: 30}
    assert all(abs(b.steps - 2370) <= b.steps_per_epoch / 2 and b.warmup_steps == 79 for b in ladder.values())
    # older configs (no steps keys) train their epochs
    assert budget.resolve(OmegaConf.create(dict(epochs=7, batch_size=64)), 1000).epochs == 7


def test_a_warm_up_as_long_as_the_run_is_refused_naming_both():
    with pytest.raises(
        PrepbenchError, match=r"trainer.warmup_steps=500 is out of range; expected fewer than the 471 steps of 3 epochs"
    ):
        budget.resolve(trainer(epochs=3, warmup_steps=500), 20_000)


def test_the_schedule_warms_up_over_the_steps_given():
    from prepbench.train.fit import learning_rate

    schedule = learning_rate(trainer(epochs=10, warmup_steps=15), steps_per_epoch=10)
    assert float(schedule(5)) == pytest.approx(1e-3 * 5 / 15, rel=1e-5)  # linear warm-up over 15 steps
    assert float(schedule(15)) == pytest.approx(1e-3, rel=1e-5)  # the peak, then cosine to 0 at step 100
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)


def test_validation_every_so_many_steps_rounds_to_whole_epochs_and_keeps_the_last():
    assert budget.validation_epochs(trainer(), 4, 79) == [1, 2, 3, 4]  # null: every epoch
    # the equal-steps ladder validating every 79 steps: about 30 times at every size
    assert len(budget.validation_epochs(trainer(validation_every_steps=79), 237, 10)) == 30  # every 8 epochs + last
    assert budget.validation_epochs(trainer(validation_every_steps=79), 30, 79) == list(range(1, 31))
    assert budget.validation_epochs(trainer(validation_every_steps=20), 7, 10) == [2, 4, 6, 7]
    assert budget.validation_epochs(trainer(validation_every_steps=1), 3, 10) == [1, 2, 3]  # at least one epoch


def test_a_job_measured_in_steps_trains_the_epochs_they_make_and_says_so(tmp_path):
    done = prepbench(*TINY, "data.train_size=200", "trainer.batch_size=50", "trainer.steps=9", store=tmp_path)
    assert done.returncode == 0, done.stderr
    client = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("adhoc").experiment_id])[0]
    assert run.data.tags["prepbench.epochs"] == "2" and run.data.tags["prepbench.steps"] == "8"  # 9/4 -> 2 epochs
    assert run.data.params["trainer.steps"] == "9" and run.data.params["trainer.epochs"] == "1"  # as given
    assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 2
    with pytest.raises(
        PrepbenchError, match=r"trainer.warmup_epochs=1 \(20 steps\) is out of range; expected fewer than the 20"
    ):
        budget.resolve(trainer(steps=10), 2_500)  # 10 steps round to 1 epoch of 20 steps, all of it warm-up


def test_a_job_validating_every_so_many_steps_logs_validation_at_those_epochs_only(tmp_path):
    done = prepbench(
        *TINY,
        "data.train_size=200",
        "trainer.batch_size=50",
        "trainer.epochs=5",
        "trainer.validation_every_steps=8",
        store=tmp_path,
    )  # 4 steps an epoch: validation after epochs 2, 4 and the last, 5
    assert done.returncode == 0, done.stderr
    client = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("adhoc").experiment_id])[0]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [2, 4, 5]
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 5
    assert run.data.metrics["val_accuracy"] == client.get_metric_history(run.info.run_id, "val_accuracy")[-1].value
