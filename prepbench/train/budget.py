"""How long a job trains: `trainer.epochs`, or `trainer.steps` optimizer steps whatever the data size.

A ladder over training-set sizes at a fixed number of epochs gives the small sets fewer optimizer
steps (30 epochs: 586 steps at 2,500 images, 2,370 at 10,000); with `trainer.steps` every size
trains about the same number of steps, and the learning-rate schedule spans them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prepbench.errors import PrepbenchError


@dataclass(frozen=True)
class Budget:
    epochs: int
    steps_per_epoch: int
    warmup_steps: int  # of the cosine schedule's linear warm-up

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch


def resolve(trainer, num_train: int) -> Budget:
    """The budget of a run on `num_train` images: with `trainer.steps`, epochs = round(steps / steps
    per epoch), at least 1 (whole epochs, so every image is seen equally often: within half an epoch
    of the steps asked for); the warm-up is `trainer.warmup_steps` where set, else
    `trainer.warmup_epochs` epochs. A trainer without these keys (older configs) trains its epochs."""
    per_epoch = math.ceil(num_train / trainer.batch_size)
    steps = trainer.get("steps")
    epochs = max(1, math.floor(steps / per_epoch + 0.5)) if steps is not None else int(trainer.epochs)
    given = trainer.get("warmup_steps")
    warmup = int(given) if given is not None else int(trainer.get("warmup_epochs", 0)) * per_epoch
    if trainer.get("schedule") == "cosine" and warmup >= epochs * per_epoch:
        setting = (
            f"trainer.warmup_steps={given}"
            if given is not None
            else f"trainer.warmup_epochs={trainer.warmup_epochs} ({warmup} steps)"
        )
        raise PrepbenchError(
            f"{setting} is out of range; expected fewer than the {epochs * per_epoch} steps "
            f"of {epochs} epochs of {num_train} images"
        )
    return Budget(epochs=epochs, steps_per_epoch=per_epoch, warmup_steps=warmup)


def validation_epochs(trainer, epochs: int, steps_per_epoch: int) -> list[int]:
    """The epochs (from 1) after which the run validates: every epoch, or with
    `trainer.validation_every_steps` every that many steps rounded to whole epochs (at least one),
    and always the last epoch, whose validation accuracy is the run's final one."""
    every_steps = trainer.get("validation_every_steps")
    every = 1 if every_steps is None else max(1, math.floor(every_steps / steps_per_epoch + 0.5))
    return [e for e in range(1, epochs + 1) if e % every == 0 or e == epochs]
