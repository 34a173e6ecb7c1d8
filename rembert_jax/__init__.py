"""rembert-jax: RemBERT (Chung et al., 2021) for JAX, exact to transformers' PyTorch RemBERT.

The pure core (no Flax, no torch):
    RemBertConfig, DTypePolicy     configuration (mutable, transformers' manners) and the dtype policy
    FrozenRemBertConfig            its frozen, hashable form (`config.frozen()`), what jit keys on
    init_params, logical_axes      encoder parameters (plain nested dict) and their logical axis names
    apply                          the encoder forward pass, `apply(params, inputs, config=...)`
    init_cache                     the fixed-size KV cache for incremental decoding
Tokenizers (from `rembert_jax.tokenization`):
    RemBertTokenizer (sentencepiece), RemBertTokenizerFast (tokenizers), AddedToken (tokenizers')
transformers-style adapters computing with the JAX core (from `rembert_jax.adapters`):
    RemBertModel, RemBertFor{MaskedLM,CausalLM,SequenceClassification,MultipleChoice,
    TokenClassification,QuestionAnswering} and their TFRemBert* twins.
Compilation: `enable_compilation_cache(path=None)` turns on JAX's persistent compilation cache
(a per-user directory; see `rembert_jax.compilation_cache`), as the `rembert-jax` command does.
Sub-packages: `rembert_jax.tokenization`, `rembert_jax.heads` (Flax task heads, losses, generation),
`rembert_jax.convert` (weight I/O), `rembert_jax.adapters` (the transformers-style classes),
`rembert_jax.train` (optax training loop and its data pipeline `rembert_jax.train.data`),
`rembert_jax.cli` (the `rembert-jax` command line).

Everything but the config and parameter table is imported lazily, so `import rembert_jax` stays
cheap and never imports torch or TensorFlow.
"""

from __future__ import annotations

from ._lazy import lazy_exports
from .config import RemBertConfig
from .frozen_config import FrozenRemBertConfig
from .params import init_params, logical_axes
from .precision import DTypePolicy

__version__ = "0.1.0"

_ADAPTERS = [
    f"{prefix}RemBert{suffix}"
    for prefix in ("", "TF")
    for suffix in ("Model", "ForMaskedLM", "ForCausalLM", "ForSequenceClassification", "ForMultipleChoice",
                   "ForTokenClassification", "ForQuestionAnswering")
]
# public name -> module that defines it
_LAZY = {
    "apply": "rembert_jax.encoder",
    "init_cache": "rembert_jax.encoder",
    "enable_compilation_cache": "rembert_jax.compilation_cache",
    "validate_inputs": "rembert_jax.encoder",
    "RemBertTokenizer": "rembert_jax.tokenization",
    "RemBertTokenizerFast": "rembert_jax.tokenization",
    "AddedToken": "rembert_jax.tokenization",  # tokenizers.AddedToken, as `from transformers import AddedToken`
    **{name: "rembert_jax.adapters" for name in _ADAPTERS},
}

__all__ = ["RemBertConfig", "FrozenRemBertConfig", "DTypePolicy", "init_params", "logical_axes", *_LAZY]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
