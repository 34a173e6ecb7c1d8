"""The one name table: each parameter of ours <-> its PyTorch key, Keras variable and TF1 name.

Every reader and writer in `rembert_jax.convert` goes through `name_table`; nothing else in the
code base spells a checkpoint key (spec §4, §5.1, §5.4).

Our tree stacks the encoder layers on a leading L axis, so one of our leaves maps to L
checkpoint keys: a `Name` addresses one slice of a leaf (`layer` is the index into the stacked
axis, or None for unstacked leaves). Dense kernels are [in, out] in ours, in Keras and in TF1;
PyTorch's `Linear.weight` is [out, in]. The LM decoder is our kernel [O, V]; PyTorch
`cls.predictions.decoder.weight`, Keras `decoder/weight` and TF1 `output_embedding` store it
[V, O]. `Name.transposed(fmt)` says whether a format stores the 2-D transpose of our slice.

Task models are `{"encoder": ..., "head": ...}`; their PyTorch encoder keys carry the
`rembert.` prefix (transformers' `base_model_prefix`), a bare `RemBertModel` has none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from rembert_jax import tasks
from rembert_jax.config import RemBertConfig
from rembert_jax.heads.specs import head_specs
from rembert_jax.params import param_specs
from rembert_jax.tasks import TASK_POOLER, TASKS, check_task  # noqa: F401 (TASKS: re-exported by convert)

from .formats import format_named

BASE = tasks.BASE.name

# transformers class of each task (the `architectures` entry of config.json) and the Keras
# model-level name of its TF twin (snake_case of the class name, spec §5.1): views of the registry.
_ALL = (tasks.BASE, *tasks.REGISTRY.values())
ARCHITECTURES = {task.name: task.architecture for task in _ALL}
KERAS_MODEL_NAMES = {task.name: task.keras_model_name for task in _ALL}
PYTORCH_PREFIX = "rembert."  # transformers' base_model_prefix inside task models
KERAS_MAIN_LAYER = "rembert"
TF1_PREFIX = "bert/"
# A legacy buffer old PyTorch checkpoints carry (persistent in early transformers 4.x).
IGNORED_PYTORCH_KEYS = ("embeddings.position_ids",)


def canonical_pytorch_key(key: str) -> str:
    """A key without transformers' `rembert.` base-model prefix (so base and task checkpoints compare)."""
    return key[len(PYTORCH_PREFIX):] if key.startswith(PYTORCH_PREFIX) else key


@dataclasses.dataclass(frozen=True)
class Name:
    """One checkpoint tensor: our leaf `path` (slice `layer` of its stacked axis) in each format."""

    path: tuple[str, ...]
    layer: int | None
    shape: tuple[int, ...]  # our slice's shape (the leaf without its stacked L axis)
    pytorch: str
    keras: str  # the variable name after the model-name segment, without ":0"
    tf1: str
    pytorch_transposed: bool
    keras_transposed: bool
    tf1_transposed: bool

    # `fmt` is a format's name in the one table (`formats.TABLE`), which says the field its keys use.
    def key(self, fmt: str) -> str:
        return getattr(self, format_named(fmt).keys)

    def transposed(self, fmt: str) -> bool:
        return getattr(self, f"{format_named(fmt).keys}_transposed")

    def stored_shape(self, fmt: str) -> tuple[int, ...]:
        """The shape this tensor has in checkpoint format `fmt`."""
        return self.shape[::-1] if self.transposed(fmt) else self.shape

    @property
    def part(self) -> str:
        """Which part of a model the tensor belongs to: "encoder", "pooler" or "head"."""
        if self.path[0] == "head":
            return "head"
        return "pooler" if "pooler" in self.path else "encoder"


# --------------------------------------------------------------------------- per-leaf templates
# (pytorch, keras, tf1, pytorch_transposed, keras_transposed, tf1_transposed); "{i}" is the layer.
_Leaf = tuple[str, str, str, bool, bool, bool]


def _dense(pt: str, keras: str, tf1: str) -> dict[str, _Leaf]:
    return {
        "kernel": (f"{pt}.weight", f"{keras}/kernel", f"{tf1}/kernel", True, False, False),
        "bias": (f"{pt}.bias", f"{keras}/bias", f"{tf1}/bias", False, False, False),
    }


def _layer_norm(pt: str, keras: str, tf1: str) -> dict[str, _Leaf]:
    return {
        "scale": (f"{pt}.weight", f"{keras}/gamma", f"{tf1}/gamma", False, False, False),
        "bias": (f"{pt}.bias", f"{keras}/beta", f"{tf1}/beta", False, False, False),
    }


def _embedding(pt: str, keras_leaf: str, tf1: str) -> _Leaf:
    return (f"embeddings.{pt}.weight", f"embeddings/{pt}/{keras_leaf}", f"embeddings/{tf1}",
            False, False, False)


def _attention(pt: str, keras: str, tf1: str) -> dict:
    return {
        "query": _dense(f"{pt}.self.query", f"{keras}/self/query", f"{tf1}/self/query"),
        "key": _dense(f"{pt}.self.key", f"{keras}/self/key", f"{tf1}/self/key"),
        "value": _dense(f"{pt}.self.value", f"{keras}/self/value", f"{tf1}/self/value"),
        "output": _dense(f"{pt}.output.dense", f"{keras}/output/dense", f"{tf1}/output/dense"),
        "ln": _layer_norm(f"{pt}.output.LayerNorm", f"{keras}/output/LayerNorm", f"{tf1}/output/LayerNorm"),
    }


# Encoder names relative to the base model: PyTorch without `rembert.`, Keras after `rembert/`,
# TF1 after `bert/`.
_PT_LAYER, _KERAS_LAYER, _TF1_LAYER = "encoder.layer.{i}", "encoder/layer_._{i}", "encoder/layer_{i}"
_ENCODER_NAMES = {
    "embeddings": {
        "word": _embedding("word_embeddings", "weight", "word_embeddings"),
        "position": _embedding("position_embeddings", "embeddings", "position_embeddings"),
        "token_type": _embedding("token_type_embeddings", "embeddings", "token_type_embeddings"),
        "ln": _layer_norm("embeddings.LayerNorm", "embeddings/LayerNorm", "embeddings/LayerNorm"),
    },
    "projection": _dense("encoder.embedding_hidden_mapping_in", "encoder/embedding_hidden_mapping_in",
                         "encoder/embedding_hidden_mapping_in"),
    "layers": {
        "self_attention": _attention(f"{_PT_LAYER}.attention", f"{_KERAS_LAYER}/attention",
                                     f"{_TF1_LAYER}/attention"),
        "cross_attention": _attention(f"{_PT_LAYER}.crossattention", f"{_KERAS_LAYER}/crossattention",
                                      f"{_TF1_LAYER}/crossattention"),
        "mlp": {
            "intermediate": _dense(f"{_PT_LAYER}.intermediate.dense", f"{_KERAS_LAYER}/intermediate/dense",
                                   f"{_TF1_LAYER}/intermediate/dense"),
            "output": _dense(f"{_PT_LAYER}.output.dense", f"{_KERAS_LAYER}/output/dense",
                             f"{_TF1_LAYER}/output/dense"),
            "ln": _layer_norm(f"{_PT_LAYER}.output.LayerNorm", f"{_KERAS_LAYER}/output/LayerNorm",
                              f"{_TF1_LAYER}/output/LayerNorm"),
        },
    },
    "pooler": _dense("pooler.dense", "pooler/dense", "pooler/dense"),
}

# Head names are absolute (no prefix in any format). The original TF1 checkpoints' head names
# are undocumented (spec §5.4): we use BERT's (`cls/predictions/transform/...`, `output_weights`
# / `output_bias` stored [out, in] like BERT's classifier, `cls/squad/...` for QA), which
# transformers' TF1 reader skips exactly as it skips the released heads.
_LM_HEAD = {
    "dense": _dense("cls.predictions.dense", "mlm___cls/predictions/dense", "cls/predictions/transform/dense"),
    "ln": _layer_norm("cls.predictions.LayerNorm", "mlm___cls/predictions/LayerNorm",
                      "cls/predictions/transform/LayerNorm"),
    "decoder": {
        "kernel": ("cls.predictions.decoder.weight", "mlm___cls/predictions/decoder/weight",
                   "cls/predictions/output_embedding", True, True, True),
        "bias": ("cls.predictions.decoder.bias", "mlm___cls/predictions/decoder/bias",
                 "cls/predictions/output_bias", False, False, False),
    },
}


def _linear_head(module: str, tf1_scope: str) -> dict:
    return {module: {
        "kernel": (f"{module}.weight", f"{module}/kernel", f"{tf1_scope}output_weights", True, False, True),
        "bias": (f"{module}.bias", f"{module}/bias", f"{tf1_scope}output_bias", False, False, False),
    }}


# Keyed by the head modules' own parameter names (every head's tree is a subset of this one).
_HEAD_NAMES = {**_LM_HEAD, **_linear_head("classifier", ""), **_linear_head("qa_outputs", "cls/squad/")}


def head_shapes(config: RemBertConfig, task: str) -> dict:
    """The head param tree of `task` (`rembert_jax.heads.head_specs`) with each leaf replaced by its shape."""
    check_task(task)
    return _shapes_of(head_specs(config, task))


def _walk(tree: dict, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _walk(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def _lookup(tree: dict, path: tuple[str, ...], what: str):
    node = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"the name table has no entry for {what} parameter {'/'.join(path)}")
        node = node[part]
    return node


def _names(templates: dict, shapes: dict, *, path_prefix: tuple[str, ...], pt_prefix: str,
           keras_prefix: str, tf1_prefix: str, num_layers: int, what: str) -> list[Name]:
    out = []
    for path, shape in _walk(shapes):
        pt, keras, tf1, pt_t, keras_t, tf1_t = _lookup(templates, path, what)
        layered = "{i}" in pt
        layers = range(num_layers) if layered else (None,)
        for i in layers:
            pt_i, keras_i, tf1_i = (t.format(i=i) for t in (pt, keras, tf1)) if layered else (pt, keras, tf1)
            out.append(Name(
                path=path_prefix + path, layer=i, shape=tuple(shape[1:] if layered else shape),
                pytorch=pt_prefix + pt_i, keras=keras_prefix + keras_i, tf1=tf1_prefix + tf1_i,
                pytorch_transposed=pt_t, keras_transposed=keras_t, tf1_transposed=tf1_t,
            ))
    return out


def _shapes_of(specs: dict) -> dict:
    return {k: _shapes_of(v) if isinstance(v, dict) else v.shape for k, v in specs.items()}


def encoder_shapes(config: RemBertConfig, *, add_pooling_layer: bool = True) -> dict:
    """Our encoder tree (`rembert_jax.params.param_specs`) with each leaf replaced by its full shape."""
    return _shapes_of(param_specs(config, add_pooling_layer=add_pooling_layer))


def name_table(config: RemBertConfig, task: str = BASE, *, add_pooling_layer: bool | None = None
               ) -> tuple[Name, ...]:
    """Every tensor of the model `task` ("base" = bare `RemBertModel`) under `config`, in
    checkpoint order. Paths are relative to the bare encoder tree for "base" and to
    `{"encoder": ..., "head": ...}` otherwise. `add_pooling_layer` defaults to whether
    transformers' class for the task has a pooler."""
    check_task(task, allow_base=True)
    pooler = TASK_POOLER[task] if add_pooling_layer is None else add_pooling_layer
    is_task = task != BASE
    names = _names(
        _ENCODER_NAMES, encoder_shapes(config, add_pooling_layer=pooler),
        path_prefix=("encoder",) if is_task else (), pt_prefix=PYTORCH_PREFIX if is_task else "",
        keras_prefix=f"{KERAS_MAIN_LAYER}/", tf1_prefix=TF1_PREFIX,
        num_layers=config.num_hidden_layers, what="encoder",
    )
    if is_task:
        names += _names(_HEAD_NAMES, head_shapes(config, task), path_prefix=("head",),
                        pt_prefix="", keras_prefix="", tf1_prefix="", num_layers=1, what=f"{task} head")
    return tuple(names)


def keras_layer_name(keras_name: str) -> str:
    """The top-level Keras layer (h5 group) holding a variable: `rembert`, `mlm___cls`, ..."""
    return keras_name.split("/", 1)[0]
