"""Training: the networks, the input pipelines, the Keras backend and precision, the fit loop.

The parts: `nets` (the shallow and deep CNNs from depth, width and dense units), `batches` (the
paired batch order, the preprocessed arrays and Inputs, what both pipelines share), `pipeline_tf`
(tf.data, on TensorFlow) and `pipeline_numpy` (numpy batches prefetched by a thread, on JAX),
`backend` (which Keras backend and device a job trains on), `precision` (float32 or bfloat16) and
`fit` (Keras `fit` with per-epoch validation and one test). Nothing here imports Keras, TensorFlow
or JAX at import time but `fit` and the pipelines: a job sets its backend (backend.use) first.
"""
