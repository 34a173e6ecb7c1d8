"""`TFRemBert*.save_pretrained(dir, saved_model=True)`: a TensorFlow SavedModel of the JAX forward pass.

transformers' Keras classes write `dir/saved_model/<version>/` with a `serving_default` signature
taking int32 `input_ids`, `attention_mask`, `token_type_ids` of shape [batch, length] ([batch,
choices, length] for multiple choice), any batch and length, and returning the output fields as a
dict (`last_hidden_state` + `pooler_output`, or `logits`, or `start_logits` + `end_logits`; with
`config.output_hidden_states` / `output_attentions` also `hidden_states` [L+1, B, S, H] /
`attentions` [L, B, NH, S, S], stacked as the Keras serving output stacks them).

Here the same signature wraps the adapter's own jitted forward, converted by `jax2tf` (the program
is serialised as StableHLO through `jax.export`, with symbolic batch and length, and runs in plain
TensorFlow's `XlaCallModule` op: neither JAX nor rembert-jax is needed to load or run it). The
weights are `tf.Variable`s of the SavedModel. It is lowered for CPU and CUDA, the platforms
TensorFlow serves on (checked here on the CPU).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from rembert_jax.tasks import BASE, get_task

from ._compute import compiled_forward, compute_config

logger = logging.getLogger("rembert_jax.convert")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# TensorFlow picks the variant of the device it runs on (the program has no platform-specific parts).
_PLATFORMS = ("cpu", "cuda")
_BASE_FIELDS = ("last_hidden_state", "pooler_output")


def save_saved_model(model, directory: str) -> str:
    """Write `model`'s forward pass as a SavedModel into `directory` (replaced if it exists; written
    to a temporary folder first, so a failure leaves nothing half-written). Returns `directory`."""
    import tensorflow as tf
    from jax.experimental import jax2tf

    config = model._frozen_config()
    forward = compiled_forward(model.task, compute_config(config), model.policy, train=False,
                               output_attentions=config.output_attentions,
                               output_hidden_states=config.output_hidden_states, loss_style="tf")
    spec = get_task(model.task, allow_base=True)
    fields = list(_BASE_FIELDS if spec is BASE else spec.outputs)
    if model.task == BASE.name and "pooler" not in model.params:
        fields.remove("pooler_output")
    fields += [name for name, on in (("hidden_states", config.output_hidden_states),
                                     ("attentions", config.output_attentions)) if on]

    def serve(params, inputs):
        if spec.choices:
            # Every choice is scored on its own, so [B, C, S] runs as B*C rows of one choice each:
            # the number of choices stays symbolic (the head reads it as a Python int).
            B, C, S = inputs["input_ids"].shape
            out = forward(params, {k: v.reshape(B * C, 1, S) for k, v in inputs.items()}, None)
            out["logits"] = out["logits"].reshape(B, C)
        else:
            out = forward(params, inputs, None)
        return {name: jnp.stack(out[name]) if isinstance(out[name], tuple) else out[name] for name in fields}

    dims = "(b, c, s)" if spec.choices else "(b, s)"
    # Serving only: no gradient (jax2tf would export the VJP as well, for every signature).
    tf_serve = jax2tf.convert(serve, polymorphic_shapes=[None, dict.fromkeys(_INPUTS, dims)],
                              polymorphic_constraints=(f"s <= {config.max_position_embeddings}",),
                              with_gradient=False, native_serialization_platforms=_PLATFORMS)
    module = tf.Module()
    module.params = tf.nest.map_structure(lambda x: tf.Variable(np.asarray(x), trainable=False), _host(model.params))
    signature = {name: tf.TensorSpec([None] * len(dims.split(",")), tf.int32, name=name) for name in _INPUTS}

    @tf.function(input_signature=[signature], autograph=False)
    def serving(inputs):
        return tf_serve(module.params, inputs)

    module.serving = serving
    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".saved_model-", dir=parent)
    try:
        # jax2tf exports while TF traces `serving`, i.e. in here
        with _stablehlo_for_older_consumers(), _erf_without_composite():
            tf.saved_model.save(module, staging, signatures={"serving_default": serving})
        if os.path.isdir(directory):
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("SavedModel of %s written to %s", type(model).__name__, directory)
    return directory


@contextlib.contextmanager
def _stablehlo_for_older_consumers():
    """Serialise StableHLO for consumers up to 12 weeks old instead of jax.export's 4.

    TensorFlow's XlaCallModule reads StableHLO only up to the version it was built with, and
    TensorFlow releases trail JAX's by more than 4 weeks (TF 2.21 reads 1.13.7; jax 0.10 writes
    1.15 by default, which it fails to read). jax.export takes its target from StableHLO's
    compatibility table on each export, so the table's answer is swapped for the 12-week one while
    this model is exported (and restored afterwards, also on failure). JAX has no public knob for
    it: tests/test_private_apis.py fails, naming this function, when JAX moves it.
    """
    from jax._src.lib.mlir.dialects import hlo

    original = hlo.get_version_from_compatibility_requirement
    week_12 = original(hlo.StablehloCompatibilityRequirement.WEEK_12)
    hlo.get_version_from_compatibility_requirement = lambda requirement: week_12
    try:
        yield
    finally:
        hlo.get_version_from_compatibility_requirement = original


# chlo.erf's own float32 decomposition (StableHLO's ErfImpl: a rational function of x², x clamped to
# [-4, 4]), written with plain ops: numerator coefficients (highest power first), then denominator.
_ERF_ALPHA = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
              -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
_ERF_BETA = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
             -1.42647390514189e-02)


def _erf_float32(x):
    """erf as XLA computes it in float32 (the same ops in the same order, so the same values)."""
    dtype = x.dtype
    x = jnp.clip(x.astype(jnp.float32), -4.0, 4.0)
    x2 = x * x

    def horner(coefficients):
        value = jnp.full_like(x2, coefficients[0])
        for c in coefficients[1:]:
            value = value * x2 + c
        return value

    return jnp.clip(x * horner(_ERF_ALPHA) / horner(_ERF_BETA), -1.0, 1.0).astype(dtype)


@contextlib.contextmanager
def _erf_without_composite():
    """Lower `lax.erf` (exact GELU) to plain ops instead of a `chlo.erf` composite while exporting.

    jax.export writes erf as a StableHLO composite whose body TensorFlow's XlaCallModule (2.21)
    cannot shape-refine when batch and length are symbolic ("op has dynamic shapes"); the same
    formula written out refines fine. The lowering table entry is restored afterwards (JAX has no
    public way to read it: tests/test_private_apis.py fails, naming this function, when that changes).
    """
    from jax._src.interpreters import mlir as mlir_internal
    from jax.interpreters import mlir

    original = mlir_internal._lowerings[jax.lax.erf_p]
    mlir.register_lowering(jax.lax.erf_p, mlir.lower_fun(_erf_float32, multiple_results=False))
    try:
        yield
    finally:
        mlir_internal._lowerings[jax.lax.erf_p] = original


def _host(params):
    return jax.tree_util.tree_map(np.asarray, params)
