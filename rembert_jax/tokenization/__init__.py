"""RemBERT's tokenizers, transformers' call surface over sentencepiece and `tokenizers` (spec §6).

    RemBertTokenizer        the sentencepiece tokenizer (transformers 4.x slow behaviour)   `.tokenizer`
    RemBertTokenizerFast    the `tokenizers` (Rust) tokenizer, same ids and offsets          `.tokenizer_fast`
    AddedToken              `tokenizers.AddedToken`, as `from transformers import AddedToken`
    BatchEncoding           what a tokenizer call returns (a dict with `.tokens()`, `.word_ids()`, ...)

Both read and write transformers' tokenizer file set (`from_pretrained` / `save_pretrained`: a folder,
a model preset's name or a Hub id). The private modules hold their shared pieces: `_base` (the common
call surface), `_files`, `_presets`, `_added`, `_special`, `_options`, `_encoded`, `_batch`, `_truncate`,
`_convert` (sentencepiece -> `tokenizers`), `_train` (`train_new_from_iterator`).
Names are imported lazily: only the tokenizer asked for loads its backend.
"""

from __future__ import annotations

from rembert_jax._lazy import lazy_exports

# public name -> defining module (relative to this package)
_LAZY = {
    "RemBertTokenizer": ".tokenizer",
    "RemBertTokenizerFast": ".tokenizer_fast",
    "AddedToken": ".tokenizer",  # tokenizers.AddedToken
    "BatchEncoding": "._batch",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
