"""The call surface shared by `RemBertTokenizer` (sentencepiece) and `RemBertTokenizerFast` (tokenizers).

One implementation of transformers' tokenizer API (`__call__`, `encode`, `decode`, `pad`,
`from_pretrained`, `save_pretrained`, ...) over a small backend interface that each class
implements:

    vocab_size, __len__, _token_to_id, _id_to_token, _base_vocab        the vocabulary
    added_tokens_decoder, _add_tokens, _place_added_token               added tokens
    _tokenize(text)                                                     text -> token strings
    _encode_rows(examples, ...)                                         texts -> rows (ids, type ids, ...)
    _decode_ids(ids, skip_special_tokens), convert_tokens_to_string     ids -> text
    _save_model_files(directory, prefix)                                sentencepiece.model / tokenizer.json
    _from_directory(directory, spm_path, **arguments)                   classmethod, the loader

A row is any object with the attributes of a `tokenizers.Encoding`: `ids`, `type_ids`,
`special_tokens_mask`, `offsets`, `word_ids`, `sequence_ids`, `tokens` (unpadded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ._added import AddedTokensMixin, as_added_token
from ._batch import BatchEncoding, check_tensor_type, pad_rows
from ._convert import special_added_token
from ._encoded import EncodedIdsMixin
from ._files import SPECIAL_TOKEN_NAMES, PretrainedFilesMixin
from ._options import (
    NO_MAX_LENGTH,
    Lengths,
    check_side,
    padded_length,
    resolve_lengths,
    split_batch,
)
from ._special import SpecialTokensMixin

# transformers options this implementation does not offer, with the value that it always has.
_FIXED_OPTIONS = {"split_special_tokens": False, "add_prefix_space": True}


def clean_up_tokenization(text: str) -> str:
    """transformers' clean-up of spaces before punctuation and English contractions."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text


def _as_ids(token_ids, name: str) -> list[int]:
    """One sequence of token ids (list, tuple, numpy/jax/torch 1-D array, or a single int) as a list."""
    if isinstance(token_ids, int | np.integer):
        return [int(token_ids)]
    if hasattr(token_ids, "tolist") and not isinstance(token_ids, list | tuple):
        token_ids = np.asarray(token_ids).tolist()
        if isinstance(token_ids, int):
            return [token_ids]
    if not isinstance(token_ids, list | tuple) or not all(isinstance(t, int | np.integer) for t in token_ids):
        raise ValueError(f"{name} must be one sequence of int token ids, got {str(token_ids)[:80]}")
    return [int(t) for t in token_ids]


class RemBertTokenizerBase(AddedTokensMixin, EncodedIdsMixin, SpecialTokensMixin, PretrainedFilesMixin):
    """Shared behaviour of both RemBERT tokenizers; not used directly."""

    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": "sentencepiece.model"}
    model_input_names: ClassVar[list[str]] = ["input_ids", "token_type_ids", "attention_mask"]
    is_fast: ClassVar[bool] = False

    def __init__(
        self,
        *,
        do_lower_case: bool = False,
        remove_space: bool = True,
        keep_accents: bool = True,
        bos_token: str | None = "[CLS]",
        eos_token: str | None = "[SEP]",
        unk_token: str | None = "[UNK]",
        sep_token: str | None = "[SEP]",
        pad_token: str | None = "[PAD]",
        cls_token: str | None = "[CLS]",
        mask_token: str | None = "[MASK]",
        additional_special_tokens: list[str] | None = None,
        model_max_length: int = NO_MAX_LENGTH,
        padding_side: str = "right",
        truncation_side: str = "right",
        clean_up_tokenization_spaces: bool = False,
        name_or_path: str = "",
        verbose: bool | None = None,
        **kwargs,
    ):
        """Other keywords (ones transformers stores, or any unknown key of a tokenizer_config.json) are
        kept in `init_kwargs` and written back by `save_pretrained`, as transformers does."""
        self.do_lower_case = bool(do_lower_case)
        self.remove_space = bool(remove_space)  # stored, never applied (as in the reference)
        self.keep_accents = bool(keep_accents)
        self._token_flags = {}  # AddedTokens given for special tokens: registered with their flags
        self._special_tokens = {}
        for name, token in zip(SPECIAL_TOKEN_NAMES, (bos_token, eos_token, unk_token, sep_token, pad_token,
                                                     cls_token, mask_token), strict=True):
            setattr(self, name, token)  # the setters check each token
        self.additional_special_tokens = additional_special_tokens
        if not isinstance(model_max_length, int) or model_max_length < 1:
            raise ValueError(f"model_max_length must be a positive int, got {model_max_length!r}")
        self.model_max_length = model_max_length
        self.padding_side = check_side("padding_side", padding_side)
        self.truncation_side = check_side("truncation_side", truncation_side)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.name_or_path = name_or_path
        self.verbose = True if verbose is None else bool(verbose)
        for name, value in _FIXED_OPTIONS.items():
            if name in kwargs and kwargs[name] != value:
                raise ValueError(f"{name}={kwargs[name]!r} is not supported by the RemBERT tokenizers (always {value})")
        self.deprecation_warnings: dict[str, bool] = {}  # warnings given once per tokenizer, as in transformers
        given = {} if verbose is None else {"verbose": self.verbose}  # saved only when given, as transformers does
        self.init_kwargs = {**self._config_arguments(), **given, **kwargs}

    def _register_added_tokens(self, added_tokens_decoder) -> None:
        """Register a saved `added_tokens_decoder` ({id: AddedToken or its dict}), then the special tokens.

        The backend is built; the saved tokens take exactly their saved ids (an id the vocabulary
        cannot give raises), then special tokens not registered yet are added (`[MASK]` absorbs
        the space before it), in transformers' order.
        """
        if added_tokens_decoder:
            if not isinstance(added_tokens_decoder, Mapping):
                raise ValueError(f"added_tokens_decoder must be a dict of id -> token, got {added_tokens_decoder!r:.80}")
            saved = {}
            for key, value in added_tokens_decoder.items():
                try:
                    index = int(key)
                except (TypeError, ValueError):
                    raise ValueError(f"added_tokens_decoder: {key!r} is not an int id") from None
                saved[index] = as_added_token(value, special=False, name=f"added_tokens_decoder[{key!r}]")
            for index, token in sorted(saved.items()):
                self._place_added_token(token, index)
        registered = self.added_tokens_encoder  # special tokens given as AddedToken keep their flags
        missing = [token for token in self.all_special_tokens if token not in registered]
        if missing:
            tokens = [self._token_flags.get(t) or special_added_token(t, lstrip=t == self.mask_token) for t in missing]
            self._add_tokens([as_added_token(t, special=True) for t in tokens], True)

    def _place_added_token(self, token, index: int) -> None:
        """Register a saved added token at exactly `index`, or raise naming the conflict."""
        raise NotImplementedError

    # ---- backend interface -------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of sentencepiece pieces (added tokens excluded)."""
        raise NotImplementedError

    def _base_vocab(self) -> dict[str, int]:
        raise NotImplementedError

    def _tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def _encode_rows(self, examples, *, add_special_tokens: bool, lengths: Lengths, stride: int,
                     is_split_into_words: bool, return_overflowing_tokens: bool,
                     return_offsets_mapping: bool) -> tuple[list[Any], list[int]]:
        raise NotImplementedError

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        raise NotImplementedError

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        raise NotImplementedError

    # ---- vocabulary --------------------------------------------------------------------------

    def __len__(self) -> int:
        """Size of the full vocabulary: sentencepiece pieces plus tokens added beyond them."""
        raise NotImplementedError

    def get_vocab(self) -> dict[str, int]:
        return {**self._base_vocab(), **self.get_added_vocab()}

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        """Unknown tokens map to the sentencepiece model's unk id."""
        if isinstance(tokens, str):
            return self._token_to_id(tokens)
        return [self._token_to_id(token) for token in tokens]

    def _check_ids(self, ids: list[int], name: str) -> None:
        size = len(self)
        bad = next((i for i in ids if not 0 <= i < size), None)
        if bad is not None:
            raise ValueError(f"{name} holds id {bad}, outside the vocabulary [0, {size})")

    def convert_ids_to_tokens(self, ids: int | list[int], skip_special_tokens: bool = False) -> str | list[str]:
        if isinstance(ids, int | np.integer):
            self._check_ids([int(ids)], "ids")
            return self._id_to_token(int(ids))
        ids = _as_ids(ids, "ids")
        self._check_ids(ids, "ids")
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._id_to_token(i) for i in ids if i not in skip]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False) -> list[str]:
        """The token strings of `text` (and `pair`), by default without `[CLS]`/`[SEP]`."""
        if not add_special_tokens:
            tokens = self._tokenize(_text_arg(text, "text"))
            return tokens + self._tokenize(_text_arg(pair, "pair")) if pair is not None else tokens
        ids = self.encode(text, pair, add_special_tokens=True)
        return self.convert_ids_to_tokens(ids)

    # ---- encoding ----------------------------------------------------------------------------

    def __call__(
        self,
        text=None,
        text_pair=None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Tokenize a text, a pair, or a batch of either (transformers' call, v4 defaults).

        `token_type_ids` are returned unless `return_token_type_ids=False` (transformers 5 returns
        them only on request). With `return_overflowing_tokens=True` and truncation, each text
        longer than `max_length` gives several rows, consecutive windows sharing `stride` tokens
        (for QA: `truncation="only_second"`, the question first, the context second);
        `overflow_to_sample_mapping` gives each row's example.
        """
        if text is None:
            raise ValueError("text is required: a str, a list of str, or pre-split words")
        examples, batched = split_batch(text, text_pair, is_split_into_words)
        lengths = resolve_lengths(
            padding, truncation, max_length, pad_to_multiple_of,
            model_max_length=self.model_max_length, has_pad_token=self.pad_token is not None,
        )
        check_tensor_type(return_tensors)
        side = check_side("padding_side", padding_side or self.padding_side)
        if not isinstance(stride, int) or stride < 0:
            raise ValueError(f"stride must be a non-negative int, got {stride!r}")
        self._check_truncation(examples, lengths, add_special_tokens, stride, return_overflowing_tokens)
        rows, sample_mapping = self._encode_rows(
            examples, add_special_tokens=add_special_tokens, lengths=lengths, stride=stride,
            is_split_into_words=is_split_into_words, return_overflowing_tokens=return_overflowing_tokens,
            return_offsets_mapping=return_offsets_mapping,
        )
        ids = [row.ids for row in rows]
        features: dict[str, Any] = {"input_ids": ids}
        if return_token_type_ids is not False:
            features["token_type_ids"] = [row.type_ids for row in rows]
        if return_attention_mask is not False:
            features["attention_mask"] = [[1] * len(row) for row in ids]
        if return_special_tokens_mask:
            features["special_tokens_mask"] = [row.special_tokens_mask for row in rows]
        if return_offsets_mapping:
            features["offset_mapping"] = [row.offsets for row in rows]
        row_lengths = [len(row) for row in ids]
        self._warn_if_too_long(row_lengths, lengths.max_length, verbose)
        target = padded_length(lengths, row_lengths)
        if target is not None:
            pad_rows(features, pad_token_id=self.pad_token_id, target_length=target, padding_side=side)
        if return_length:
            features["length"] = row_lengths
        if return_overflowing_tokens:
            features["overflow_to_sample_mapping"] = sample_mapping
        unbatched = not batched and not return_overflowing_tokens
        if unbatched:
            features = {key: value[0] for key, value in features.items()}
        return BatchEncoding(
            features, encodings=rows, padding_side=side, pad_token=self.pad_token or "", is_fast=self.is_fast,
            unbatched=unbatched, tensor_type=return_tensors,
        )

    def _check_truncation(self, examples, lengths: Lengths, add_special_tokens: bool, stride: int,
                          overflow: bool) -> None:
        """Truncation requests no example can satisfy, rejected before any text is tokenized."""
        strategy, max_length = lengths.truncation, lengths.max_length
        if strategy == "do_not_truncate" or max_length is None:
            return
        kinds = {second is not None for _, second in examples}  # True: pairs present
        if strategy == "only_second" and False in kinds:
            raise ValueError("truncation='only_second' needs a text pair for every example (text_pair=...)")
        for pair in kinds:
            special = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
            if max_length <= special:
                raise ValueError(f"max_length={max_length} leaves no room for text after the {special} special tokens")
        if not overflow:
            return
        if True in kinds and strategy == "longest_first":
            raise ValueError(
                "return_overflowing_tokens with a text pair needs truncation='only_first' or 'only_second' "
                "(for QA: the question first, the context second, truncation='only_second')"
            )
        if False in kinds:
            window = max_length - (self.num_special_tokens_to_add(False) if add_special_tokens else 0)
            if stride >= window:
                raise ValueError(
                    f"stride={stride} must be smaller than max_length minus the special tokens ({window})"
                )

    def encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        """transformers' older name for calling the tokenizer on one example."""
        return self(text, text_pair, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs, **kwargs) -> BatchEncoding:
        """transformers' older name for calling the tokenizer on a batch (texts or (text, pair) tuples)."""
        return self(list(batch_text_or_text_pairs), **kwargs)

    def encode(self, text, text_pair=None, *, add_special_tokens: bool = True, return_tensors: str | None = None,
               **kwargs):
        """The `input_ids` of one example (a list of int, or a [1, S] tensor with `return_tensors`)."""
        encoded = self(text, text_pair, add_special_tokens=add_special_tokens, return_tensors=return_tensors,
                       return_token_type_ids=False, return_attention_mask=False, **kwargs)
        return encoded["input_ids"]

    # ---- decoding ----------------------------------------------------------------------------

    def decode(self, token_ids, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool | None = None) -> str:
        """Text of one sequence of ids; `skip_special_tokens` drops `[CLS]`, `[SEP]`, `[PAD]`, ..."""
        ids = _as_ids(token_ids, "token_ids")
        self._check_ids(ids, "token_ids")
        text = self._decode_ids(ids, skip_special_tokens)
        clean = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean else text

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None) -> list[str]:
        """`decode` of each sequence (a list of id lists, or a [B, S] array)."""
        if hasattr(sequences, "tolist") and not isinstance(sequences, list):
            sequences = np.asarray(sequences).tolist()
        rows = [_as_ids(seq, f"sequences[{i}]") for i, seq in enumerate(sequences)]
        for i, row in enumerate(rows):
            self._check_ids(row, f"sequences[{i}]")
        texts = self._decode_batch(rows, skip_special_tokens)
        clean = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        return [clean_up_tokenization(text) for text in texts] if clean else texts

    def _decode_batch(self, rows: list[list[int]], skip_special_tokens: bool) -> list[str]:
        return [self._decode_ids(row, skip_special_tokens) for row in rows]

    def apply_chat_template(self, *args, **kwargs):
        """Not offered: RemBERT is an encoder (masked LM, classifiers, QA) with no chat format."""
        raise NotImplementedError(
            "apply_chat_template: RemBERT is an encoder model with no chat format or chat template; a template "
            "invented here would not match how any RemBERT checkpoint was trained. Format the text yourself and "
            "call the tokenizer on it"
        )

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length}, do_lower_case={self.do_lower_case}, "
                f"keep_accents={self.keep_accents}, special_tokens={self.special_tokens_map})")


def _text_arg(value, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {type(value).__name__}")
    return value
