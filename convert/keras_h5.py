"""TensorFlow/Keras weights of the HF `TFRemBert*` classes, with h5py (no TensorFlow needed).

Reads (spec §5.2): the single-file Keras `tf_model.h5` (root attribute `layer_names`, one group per
layer with a `weight_names` attribute, datasets at `<layer>/<model name>/<variable>:0`), the
sharded h5 variant (`tf_model-0000k-of-0000n.h5` + `tf_model.h5.index.json`, root-level datasets
named by the variable without the model-name segment) and TF-format safetensors (metadata
`format="tf"`, same stripped names). Writes the single-file layout that transformers 4.x
`TFRemBert*.from_pretrained` loads. Variable names come from the name table (`Name.keras`).
"""

from __future__ import annotations

import contextlib
import os

import jax
import numpy as np

from rembert_jax.config import CONFIG_NAME, RemBertConfig
from rembert_jax.tasks import get_task

from .assemble import LoadingInfo
from .files import atomic_directory
from .loader import config_beside, load_source
from .names import ARCHITECTURES, KERAS_MODEL_NAMES, keras_layer_name
from .sources import (
    SAFETENSORS_INDEX_NAME,
    SAFETENSORS_NAME,
    TensorSource,
    merge_sources,
    open_safetensors,
    read_index_files,
)
from .write_plan import tensors_to_write

TF2_WEIGHTS_NAME = "tf_model.h5"
TF2_WEIGHTS_INDEX_NAME = "tf_model.h5.index.json"
_HDF5_OBJECT_HEADER_LIMIT = 64512  # Keras splits longer attributes into name0, name1, ...
_KERAS_VERSION = b"2.15.0"


def _keras_dropout_layer_name(config: RemBertConfig) -> str:
    """The auto-generated name of that Dropout layer in a fresh Keras session: every Dropout built
    before it (1 in the embeddings, 3 per layer, 2 more per layer with cross-attention) takes the
    next `dropout_N`. `save_pretrained` lists it in `layer_names`, and transformers reports it as a
    newly initialised layer when a file does not (checked against transformers 4.46 / tf-keras 2.18)."""
    per_layer = 3 + (2 if config.add_cross_attention else 0)
    return f"dropout_{1 + config.num_hidden_layers * per_layer}"


def canonical_keras_name(name: str) -> str:
    """A variable name comparable across layouts: no `:0`, and `…/embeddings` read as `…/weight`
    (transformers' fallback for embedding variables saved under either name)."""
    name = name.removesuffix(":0")
    return name[: -len("embeddings")] + "weight" if name.endswith("_embeddings/embeddings") else name


def _read_attribute(node, name: str) -> list[str]:
    """A Keras string-list attribute, possibly chunked into `name0`, `name1`, ... (HDF5 header limit)."""
    if name in node.attrs:
        values = node.attrs[name]
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in node.attrs:
            values.extend(node.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)]


def _write_attribute(node, name: str, values: list[str]) -> None:
    data = np.array([v.encode("utf-8") for v in values])
    chunks = max(1, -(-data.nbytes // _HDF5_OBJECT_HEADER_LIMIT))
    if chunks == 1:
        node.attrs[name] = data
        return
    for k, part in enumerate(np.array_split(data, chunks)):
        node.attrs[f"{name}{k}"] = part


def open_keras_h5(path: str) -> TensorSource:
    """A Keras h5 file: the single-file layout or one shard of the sharded layout. Keys are variable
    names without the model-name segment (e.g. `rembert/embeddings/word_embeddings/weight:0`)."""
    import h5py

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    try:
        handle = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path} is not a readable HDF5 file ({e}); the file is truncated, corrupt or in "
                         "another format") from None
    try:
        layers = _read_attribute(handle, "layer_names")
        if not layers:
            raise ValueError(f"{path} has no 'layer_names' attribute: it is not a Keras weights file")
        datasets: dict[str, str] = {}
        for layer in layers:
            node = handle.get(layer)
            if isinstance(node, h5py.Dataset):  # sharded layout: the layer name is the variable name
                datasets[layer] = layer
                continue
            if node is None:
                raise ValueError(f"{path} lists layer {layer!r} in 'layer_names' but has no such group")
            for weight in _read_attribute(node, "weight_names"):
                if f"{layer}/{weight}" not in handle:
                    raise ValueError(f"{path}: layer {layer!r} names weight {weight!r} but holds no such dataset")
                datasets[weight.split("/", 1)[1] if "/" in weight else weight] = f"{layer}/{weight}"
        shapes = {k: tuple(handle[v].shape) for k, v in datasets.items()}
    except BaseException:
        handle.close()
        raise
    return TensorSource(path, shapes, lambda k: np.asarray(handle[datasets[k]][()]), handle.close)


def _open_tf_safetensors(path: str) -> TensorSource:
    source = open_safetensors(path)
    if source.metadata.get("format") not in ("tf", None):
        source.close()
        raise ValueError(f"{path} holds {source.metadata.get('format')!r}-format weights, not TensorFlow "
                         "(metadata format='tf'); read PyTorch weights with load_pytorch")
    return source


def open_keras(path: str) -> TensorSource:
    """Open `tf_model.h5`, a sharded `tf_model.h5.index.json`, or TF-format safetensors (+ index)."""
    if path.endswith(".index.json"):
        opener = open_keras_h5 if path.endswith(".h5.index.json") else _open_tf_safetensors
        files = read_index_files(path)
        sources: list[TensorSource] = []
        try:
            for file in files:
                sources.append(opener(file))
        except BaseException:
            for source in sources:
                source.close()
            raise
        return merge_sources(path, sources)
    if path.endswith(".h5"):
        return open_keras_h5(path)
    if path.endswith(".safetensors"):
        return _open_tf_safetensors(path)
    raise ValueError(f"{path}: unknown TensorFlow weights format; expected *.h5, *.safetensors or *.index.json")


def find_keras_weights(directory: str) -> str:
    for name in (TF2_WEIGHTS_NAME, TF2_WEIGHTS_INDEX_NAME):
        if os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    for name in (SAFETENSORS_NAME, SAFETENSORS_INDEX_NAME):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            with contextlib.suppress(ValueError), open_keras(candidate):
                return candidate
    raise FileNotFoundError(f"{directory} holds no TensorFlow weights: expected {TF2_WEIGHTS_NAME}, "
                            f"{TF2_WEIGHTS_INDEX_NAME} or TF-format {SAFETENSORS_NAME}")


def read_keras(path: str | os.PathLike, *, task: str | None = None, strict: bool = True,
               config: RemBertConfig | None = None, dtype=None, rng: jax.Array | int = 0, device: bool = False
               ) -> tuple[RemBertConfig, dict, LoadingInfo, str]:
    """The "tf-h5" reader of `dispatch.load` (a local `path`): `load_keras` with the loading info and
    the resolved task; numpy leaves unless `device`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        weights = find_keras_weights(path)
    elif os.path.isfile(path):
        weights = path
    else:
        raise FileNotFoundError(f"no checkpoint at {path}: expected a directory with {TF2_WEIGHTS_NAME} or a "
                                "weights file (*.h5, *.safetensors, *.index.json)")
    config = config_beside(weights, config)
    with open_keras(weights) as source:
        params, info, task = load_source(source, config, "tf-h5", task=task, canonical=canonical_keras_name,
                                         strict=strict, dtype=dtype, rng=rng, device=device)
    return config, params, info, task


def load_keras(path: str | os.PathLike, *, task: str | None = None, strict: bool = True,
               config: RemBertConfig | None = None, dtype=None, rng: jax.Array | int = 0,
               output_loading_info: bool = False, **hub):
    """Load TF/Keras weights written by transformers' `TFRemBert*.save_pretrained`.

    Same arguments and results as `load_pytorch`: `path` is a directory, a weights file
    (`tf_model.h5`, `tf_model.h5.index.json`, TF-format `*.safetensors`) or a Hub id."""
    from .dispatch import load

    return load(path, format="tf-h5", task=task, strict=strict, config=config, dtype=dtype, rng=rng,
                output_loading_info=output_loading_info, **hub)


def _open_for_h5(path: str):
    """The file h5py writes through. A Python file object, not a path: HDF5's own POSIX driver meets
    a full disk with errors it reports only while freeing objects, then crashes the process
    (SIGSEGV); through a file object the failing `write` raises a plain OSError."""
    return open(path, "w+b")  # noqa: SIM115 - closed by save_keras after h5py is done with it


def save_keras(directory: str | os.PathLike, config: RemBertConfig, params: dict, *, task: str | None = None,
               dtype=None, force: bool = False) -> list[str]:
    """Write `params` as the single-file Keras `tf_model.h5` (+ config.json) that transformers 4.x
    `TFRemBert*.from_pretrained(directory)` loads. Returns the files written.

    An existing non-empty `directory` is refused unless `force`, which replaces only tf_model.h5 and
    config.json there."""
    import h5py

    task, tensors = tensors_to_write(config, params, task, "tf-h5", dtype=dtype)
    bad = {t.dtype.name for t in tensors} - {"float32", "float16", "float64"}
    if bad:
        raise ValueError(f"Keras h5 stores float32/float16 weights, not {', '.join(sorted(bad))}; pass "
                         "dtype='float32'")
    model_name = KERAS_MODEL_NAMES[task]
    layers: dict[str, list] = {}
    for tensor in tensors:
        layers.setdefault(keras_layer_name(tensor.name.keras), []).append(tensor)
    # transformers 4.x Keras classifiers have a weightless top-level Dropout: rembert, dropout_N, classifier
    if get_task(task, allow_base=True).keras_dropout:
        layers = {"rembert": layers.pop("rembert"), _keras_dropout_layer_name(config): [], **layers}
    total = sum(t.nbytes for t in tensors)
    with atomic_directory(directory, produces=lambda f: f in (TF2_WEIGHTS_NAME, CONFIG_NAME), force=force,
                          needed_bytes=total) as staging:
        with _open_for_h5(os.path.join(staging, TF2_WEIGHTS_NAME)) as file, h5py.File(file, "w") as f:
            _write_attribute(f, "layer_names", list(layers))
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = _KERAS_VERSION
            for layer, members in layers.items():
                group = f.create_group(layer)
                full = [f"{model_name}/{t.name.keras}:0" for t in members]
                _write_attribute(group, "weight_names", full)
                for name, tensor in zip(full, members, strict=True):
                    group.create_dataset(name, data=tensor.load())
        config.replace(architectures=[ARCHITECTURES[task]]).save_pretrained(staging)
    return [TF2_WEIGHTS_NAME, "config.json"]
