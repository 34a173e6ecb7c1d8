"""Special tokens of the RemBERT tokenizers: attributes, ids, and the `[CLS] A [SEP] (B [SEP])` layout.

The layout functions are the reference's (spec §6.3): `[CLS]`/`[SEP]` (not bos/eos) frame the
texts, token type 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
"""

from __future__ import annotations

from ._tokenization_files import SPECIAL_TOKEN_NAMES


class SpecialTokensMixin:
    """Special-token attributes (`cls_token`, `cls_token_id`, ...) over a `_token_to_id` backend."""

    _special_tokens: dict[str, str | None]
    _additional_special_tokens: list[str]

    def _token_to_id(self, token: str) -> int:  # provided by the backend
        raise NotImplementedError

    def _special_id(self, name: str) -> int | None:
        token = self._special_tokens[name]
        return None if token is None else self._token_to_id(token)

    # Attributes with transformers' names, read-only (the tokenizer's files fix them).
    bos_token = property(lambda self: self._special_tokens["bos_token"])
    eos_token = property(lambda self: self._special_tokens["eos_token"])
    unk_token = property(lambda self: self._special_tokens["unk_token"])
    sep_token = property(lambda self: self._special_tokens["sep_token"])
    pad_token = property(lambda self: self._special_tokens["pad_token"])
    cls_token = property(lambda self: self._special_tokens["cls_token"])
    mask_token = property(lambda self: self._special_tokens["mask_token"])
    bos_token_id = property(lambda self: self._special_id("bos_token"))
    eos_token_id = property(lambda self: self._special_id("eos_token"))
    unk_token_id = property(lambda self: self._special_id("unk_token"))
    sep_token_id = property(lambda self: self._special_id("sep_token"))
    pad_token_id = property(lambda self: self._special_id("pad_token"))
    cls_token_id = property(lambda self: self._special_id("cls_token"))
    mask_token_id = property(lambda self: self._special_id("mask_token"))
    pad_token_type_id = 0

    @property
    def additional_special_tokens(self) -> list[str]:
        return list(self._additional_special_tokens)

    @property
    def special_tokens_map(self) -> dict[str, str | list[str]]:
        """The set special tokens by attribute name, as in special_tokens_map.json."""
        mapping: dict[str, str | list[str]] = {
            name: token for name, token in self._special_tokens.items() if token is not None
        }
        if self._additional_special_tokens:
            mapping["additional_special_tokens"] = list(self._additional_special_tokens)
        return mapping

    @property
    def all_special_tokens(self) -> list[str]:
        """Every distinct special token, in transformers' attribute order."""
        tokens = [self._special_tokens[name] for name in SPECIAL_TOKEN_NAMES] + self._additional_special_tokens
        return list(dict.fromkeys(token for token in tokens if token is not None))

    @property
    def all_special_ids(self) -> list[int]:
        return [self._token_to_id(token) for token in self.all_special_tokens]

    # ---- the [CLS] A [SEP] (B [SEP]) layout --------------------------------------------------

    def _require_cls_sep(self) -> tuple[int, int]:
        if self.cls_token is None or self.sep_token is None:
            raise ValueError("adding special tokens needs cls_token and sep_token, but one of them is None")
        return self.cls_token_id, self.sep_token_id

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """2 for `[CLS] A [SEP]`, 3 for `[CLS] A [SEP] B [SEP]`."""
        return 3 if pair else 2

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        """`[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`."""
        cls_id, sep_id = self._require_cls_sep()
        if token_ids_1 is None:
            return [cls_id, *token_ids_0, sep_id]
        return [cls_id, *token_ids_0, sep_id, *token_ids_1, sep_id]

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """0 for `[CLS] A [SEP]`, 1 for `B [SEP]`."""
        first = [0] * (len(token_ids_0) + 2)
        return first if token_ids_1 is None else first + [1] * (len(token_ids_1) + 1)

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """1 where `build_inputs_with_special_tokens` puts `[CLS]`/`[SEP]`, 0 on text tokens.

        With `already_has_special_tokens=True`, `token_ids_0` is a built sequence: 1 exactly where
        the id is the `[CLS]` or `[SEP]` id (the reference's rule).
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError(
                    "get_special_tokens_mask(already_has_special_tokens=True) takes one built sequence; "
                    "token_ids_1 must be None"
                )
            cls_id, sep_id = self._require_cls_sep()
            return [1 if token in (cls_id, sep_id) else 0 for token in token_ids_0]
        mask = [1] + [0] * len(token_ids_0) + [1]
        return mask if token_ids_1 is None else mask + [0] * len(token_ids_1) + [1]
