"""Special tokens of the RemBERT tokenizers: attributes, ids, and the `[CLS] A [SEP] (B [SEP])` layout.

The layout functions are the reference's (spec §6.3): `[CLS]`/`[SEP]` (not bos/eos) frame the
texts, token type 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
"""

from __future__ import annotations

from numbers import Integral

from tokenizers import AddedToken

from ._files import SPECIAL_TOKEN_NAMES


def _content(tokenizer, value, name: str) -> str:
    """The token string of a str or AddedToken given for a special token (an AddedToken's flags are kept
    for when the token is added to the vocabulary)."""
    if isinstance(value, AddedToken) and value.content:
        tokenizer._token_flags[value.content] = value
        value = value.content
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str, an AddedToken or None, got {value!r:.80}")
    return value


def _token_attribute(name: str) -> property:
    def get(self) -> str | None:
        return self._special_tokens[name]

    def set_(self, value) -> None:
        self._special_tokens[name] = None if value is None else _content(self, value, name)

    return property(get, set_, doc=f"The {name.replace('_', ' ')} (a str), or None.")


def _id_attribute(name: str) -> property:
    def get(self) -> int | None:
        return self._special_id(name)

    def set_(self, value) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value < len(self):
                raise ValueError(f"{name}_id must be an id in [0, {len(self)}) or None, got {value!r}")
            value = self._id_to_token(int(value))
        self._special_tokens[name] = value

    return property(get, set_, doc=f"The id of the {name.replace('_', ' ')}, or None.")


class SpecialTokensMixin:
    """Special-token attributes (`cls_token`, `cls_token_id`, ...) over a `_token_to_id` backend."""

    _special_tokens: dict[str, str | None]
    _additional_special_tokens: list[str]
    _token_flags: dict[str, AddedToken]

    def _token_to_id(self, token: str) -> int:  # provided by the backend
        raise NotImplementedError

    def _id_to_token(self, index: int) -> str:  # provided by the backend
        raise NotImplementedError

    def _special_id(self, name: str) -> int | None:
        token = self._special_tokens[name]
        return None if token is None else self._token_to_id(token)

    # Attributes with transformers' names. Setting one (`tok.pad_token = "[PAD]"`, `tok.pad_token_id = 0`)
    # changes which token plays the role; like transformers, it does not add the token to the vocabulary
    # (`add_special_tokens` does).
    bos_token = _token_attribute("bos_token")
    eos_token = _token_attribute("eos_token")
    unk_token = _token_attribute("unk_token")
    sep_token = _token_attribute("sep_token")
    pad_token = _token_attribute("pad_token")
    cls_token = _token_attribute("cls_token")
    mask_token = _token_attribute("mask_token")
    bos_token_id = _id_attribute("bos_token")
    eos_token_id = _id_attribute("eos_token")
    unk_token_id = _id_attribute("unk_token")
    sep_token_id = _id_attribute("sep_token")
    pad_token_id = _id_attribute("pad_token")
    cls_token_id = _id_attribute("cls_token")
    mask_token_id = _id_attribute("mask_token")
    pad_token_type_id = 0

    @property
    def additional_special_tokens(self) -> list[str]:
        """Special tokens beyond the named ones (transformers 5 calls them `extra_special_tokens`)."""
        return list(self._additional_special_tokens)

    @additional_special_tokens.setter
    def additional_special_tokens(self, tokens) -> None:
        if tokens is None:
            tokens = []
        if not isinstance(tokens, list | tuple):
            raise ValueError(f"additional_special_tokens must be a list of str or AddedToken, got {type(tokens).__name__}")
        self._additional_special_tokens = [_content(self, t, f"additional_special_tokens[{i}]")
                                           for i, t in enumerate(tokens)]

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return [self._token_to_id(token) for token in self._additional_special_tokens]

    @additional_special_tokens_ids.setter
    def additional_special_tokens_ids(self, ids) -> None:
        self.additional_special_tokens = [self._id_to_token(int(i)) for i in ids or []]

    extra_special_tokens = additional_special_tokens  # transformers 5's names
    extra_special_tokens_ids = additional_special_tokens_ids

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
