"""Running studies: the sweep around a multirun's jobs, one job, and the tools that plan or read a
study.

The parts: `sweep` (the Hydra callback: a sweep's parent run, progress and summary), `job` (one
job: claim, data, preprocessing, training, its MLflow run), `hydra_private` (the one use of
Hydra's private API), `seeds` (seeds on demand until intervals are narrow), `pilot` (a study's
epochs, or one setting, chosen on validation accuracy) and `compare` (two settings of one key
paired by seed). The Hydra app itself is prepbench/__main__.py.
"""
