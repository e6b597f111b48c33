"""`python -m prepbench.bench --out DIR [--quick]`: prepbench against the memo's way and bare Keras.

Everything is measured side by side in one process, on the same images, and reported as ratios
(absolute speeds on a shared 2-core machine are noise; ratios measured together are not):

    pipeline_vs_idg.<variant>      prepbench's training-input pipeline (fit.make_inputs; images/s of
                                   batches fully produced) / ImageDataGenerator.flow on the same work
    zca_fit_vs_idg                 IDG's ZCA fit time / prepbench's, same images
    harness_vs_bare.<net>.<var>    training images/s of a prepbench job (make_inputs + fit_and_evaluate)
                                   / a bare Keras `fit` of the same model on normalized in-memory tensors
    flops_vs_peak.<net>            training FLOP rate / a float32 matmul's FLOP rate measured in this run
    bf16_vs_fp32.<net>             steady training images/s of a prepbench job in bfloat16 / the same job in
                                   float32, alternated back to back (trainer.precision)
    flops_vs_peak_bf16.<net>       training FLOP rate in bfloat16 / a bfloat16 matmul's FLOP rate in this run

and, in its own section (not a headline ratio): the same job (variant none, float32) on JAX and on
TensorFlow, each in fresh processes (Keras runs one backend per process), JAX / TensorFlow.

Writes DIR/bench.json (machine-readable: ratios, raw figures, machine, versions, command) and
DIR/bench.md (the same as tables). Speed is never asserted by the tests; this command reports it.

The parts: `plans` (how much work, on which data, with which objects), `measures` (the timings,
and MEASURES: one row per report section), `sweeps` (the sweep-level figures, in fresh processes),
`ratios` (RATIOS: one row per headline ratio, with its target; and `seconds`, `median`, `ratio`),
`render` (bench.md and bench.json, SECTIONS: one function per table), `backend_speed` (the same job
on JAX and on TensorFlow in fresh processes; also `python -m prepbench.backend_speed`) and
`__main__` (the driver). A new measurement is a function in
`measures` plus its row in MEASURES; its headline ratio a row in `ratios.RATIOS`; its table a
function in `render` plus its row in SECTIONS.
"""
