"""A study (any experiments/NAME.yaml) on one GPU within a wall-clock budget, on JAX (no TensorFlow on
that machine).

    OUT=DIR python scripts/gpu_study.py --experiment converged --data SUBSET.zip --budget 540   # via gpu_study.sh
    OUT=DIR python -m prepbench.gpu --experiment converged --data SUBSET.zip --budget 540        # the same

1. Looks at the machine: JAX's devices, nvidia-smi, library versions.
2. Loads the data once (data=folder), so the workers read the decoded cache.
3. Measures training throughput (images/s) of each net of the study in one process, on real
   images, after compilation, in the study's precision (`auto` resolved there), with its own learning
   rate schedule and batch shapes (so its compiled programs land in JAX's persistent cache for the
   workers); also evaluation images/s (validation) and the device-side augmentation's rate.
4. Sizes the study to the time left, from the experiment's own sweep (`hydra.sweeper.params` of
   experiments/<experiment>.yaml, composed as prepbench.study.seeds reads it), run by K worker processes
   at once on the one GPU (small networks leave a GPU mostly idle from one process):
   * `memo`: every variant x both nets, seeds 0..S-1, E epochs, with S and E the largest that the
     measured throughput predicts will finish (E at most the memo's 30, on the whole subset).
   * `converged`: the design is fixed (its 30 epochs, cosine schedule, 10,000 train / 5,000 val
     images, the full test split, all 9 variants x both nets): only the number of whole seeds S is
     sized (at most 10; seeds past the sweep's list continue its numbering), from each job's real
     cost: epochs x (train images + validation images) + test images + a per-job overhead. If room
     is left, the scarcity ladder of experiments/converged-scarce.yaml (same experiment and store)
     follows for as many of those seeds as fit.
   * any other experiment file (converged-depth, converged-bn, converged-scarce-steps, ...): sized as
     converged is, in whole seeds of its own design. Every key it sweeps is a dimension of the grid:
     prep, net and seed, and the others (net.depth, prep.batchnorm, data.train_size, ...) as cells
     whose overrides each job adds last; each cell's jobs are costed from their own images, epochs and
     validations, and the probe measures each net as the cells shape it (plan.py).
   Jobs are ordered seed by seed, deeper net first, then cell by cell, the scarcity ladder last, so a
   study cut short holds complete seeds first.
5. Each worker runs its jobs through prepbench.study.job.run_job (the same code as `python -m prepbench`),
   and starts a job only if its own measured job time says it ends before the deadline; at the
   deadline any job still running is stopped (KILLED in MLflow) and the report is made from the
   FINISHED ones.
6. Writes to OUT: <experiment>-gpu.tar.gz (the MLflow store, its artifacts, the report and the
   logs; if that is over 15 MiB, the artifacts go to <experiment>-gpu-artifacts-1.tar.gz, -2, ...),
   report.md, gpu.json (machine, throughput, plan, wall times), study.log.

7. --resume ARCHIVE (any experiment but memo): the store starts as a previous call's <experiment>-gpu.tar.gz
   instead of empty; its whole seeds are counted as done and the plan sizes only the seeds after
   them (still at most 10 in all), so a second call adds seeds to the same store. The earlier
   calls' gpu.json stay in the new one under `earlier_calls`.

GPU_TINY=1 shrinks everything for a CPU dry run (a few hundred images, 2 epochs, 1 seed, width 4;
for `converged` also one seed of the scarcity ladder at 200 images).

The parts: `machine` (steps 1 and 3), `plan` (step 4), `workers` (step 5), `results` (steps 6 and
7) and `__main__` (one call, start to end).
"""
