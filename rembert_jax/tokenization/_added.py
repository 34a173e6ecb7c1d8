"""Added tokens: transformers' `add_tokens` / `add_special_tokens` surface for both RemBERT tokenizers.

A token added to a tokenizer is a `tokenizers.AddedToken` (the class transformers uses for both of
its backends) with the flags

    lstrip / rstrip   the token absorbs the whitespace on its left / right
    single_word       the token matches only as a whole word
    normalized        matched on the normalized text (lowercased with do_lower_case) rather than the raw one
    special           skipped by decode(skip_special_tokens=True), never normalized

Tokens already in the sentencepiece model keep their model id; new ones get the next ids after
`len(tokenizer)`. The fast class keeps them in its `tokenizers.Tokenizer`; the sentencepiece class
keeps them in an `AddedVocabulary` that splits text the way transformers 4.x's slow tokenizers do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from tokenizers import AddedToken

from ._files import SPECIAL_TOKEN_NAMES

__all__ = ["AddedToken", "AddedTokensMixin", "AddedVocabulary", "as_added_token", "token_state"]

_EXTRA_KEYS = ("additional_special_tokens", "extra_special_tokens")  # transformers 4.x / 5.x names
_WORD = re.compile(r"\w")  # the `tokenizers` library's word character for single_word


def token_state(token: AddedToken) -> dict:
    """The dict transformers writes for an added token (`AddedToken.__getstate__`)."""
    return dict(token.__getstate__())


def as_added_token(value, *, special: bool, name: str = "token") -> AddedToken:
    """A str, an AddedToken, or its saved dict as an AddedToken; a str gets transformers' default flags.

    `special=True` marks the token special (as transformers does, keeping its other flags).
    """
    if isinstance(value, Mapping):
        fields = {key: v for key, v in value.items() if key not in ("__type", "id")}
        if not isinstance(fields.get("content"), str):
            raise ValueError(f"{name} must be a str or an AddedToken; the dict {dict(value)!r} has no str 'content'")
        unknown = set(fields) - {"content", "single_word", "lstrip", "rstrip", "normalized", "special"}
        if unknown:
            raise ValueError(f"{name}: unknown AddedToken fields {sorted(unknown)} in {dict(value)!r}")
        value = AddedToken(**fields)
    if isinstance(value, str):
        if not value:
            raise ValueError(f"{name} must be a non-empty str")
        return AddedToken(value, lstrip=False, rstrip=False, single_word=False, normalized=not special,
                          special=special)
    if not isinstance(value, AddedToken):
        raise ValueError(f"{name} must be a str or a tokenizers.AddedToken, got {type(value).__name__}: {value!r:.80}")
    if not value.content:
        raise ValueError(f"{name} must have non-empty content")
    if special and not value.special:
        state = token_state(value)
        state["special"] = True
        value = AddedToken(**state)
    return value


class AddedVocabulary:
    """The sentencepiece tokenizer's added tokens, and the rule for splitting text at them.

    Text is cut at every added token (leftmost, then longest match); a token with `lstrip`/`rstrip`
    removes the whitespace on that side. A `single_word` token next to a word character (`\\w`)
    is plain text there: the `tokenizers` library's rule, which transformers 4.x's slow classes
    broke when combined with lstrip/rstrip (they stripped first, then looked for a space). With
    `do_lower_case`, text is lowercased except special tokens and normalized added tokens (whose
    content was lowercased when they were added), as in transformers 4.x.
    """

    def __init__(self):
        self.decoder: dict[int, AddedToken] = {}
        self.encoder: dict[str, int] = {}
        self._pattern: re.Pattern | None = None

    def add(self, token: AddedToken, index: int) -> None:
        self.decoder[index] = token
        self.encoder[token.content] = index
        contents = sorted(self.encoder, key=len, reverse=True)  # the longest match wins, as in transformers' trie
        self._pattern = re.compile("(" + "|".join(map(re.escape, contents)) + ")")

    def lowercase(self, text: str, special_tokens: Iterable[str]) -> str:
        kept = [*special_tokens, *(t.content for t in self.decoder.values() if not t.special and t.normalized)]
        if not kept:
            return text.lower()
        parts = re.split("(" + "|".join(map(re.escape, sorted(kept, key=len, reverse=True))) + ")", text)
        return "".join(part if i % 2 else part.lower() for i, part in enumerate(parts))  # odd: kept tokens

    def split(self, text: str) -> list[tuple[str, bool]]:
        """(chunk, is_added_token) in order; chunks of plain text may be empty."""
        if self._pattern is None:
            return [(text, False)]
        chunks: list[list] = []
        start = 0
        for match in self._pattern.finditer(text):
            token = self.decoder[self.encoder[match.group()]]
            if token.single_word and (_WORD.match(text[match.start() - 1:match.start()] if match.start() else "")
                                      or _WORD.match(text, match.end())):
                continue  # inside a word: plain text here
            chunks += [[text[start:match.start()], False], [match.group(), True]]
            start = match.end()
        chunks.append([text[start:], False])
        for i in range(1, len(chunks), 2):  # odd positions hold the added tokens
            token = self.decoder[self.encoder[chunks[i][0]]]
            if token.lstrip:
                chunks[i - 1][0] = chunks[i - 1][0].rstrip()
            if token.rstrip:
                chunks[i + 1][0] = chunks[i + 1][0].lstrip()
        return [(chunk, is_added) for chunk, is_added in chunks]


class AddedTokensMixin:
    """`add_tokens`, `add_special_tokens`, `added_tokens_encoder` / `_decoder` over a backend's `_add_tokens`."""

    def _add_tokens(self, tokens: list[AddedToken], special_tokens: bool) -> int:  # provided by the backend
        raise NotImplementedError

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:  # provided by the backend
        raise NotImplementedError

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        """Content -> id of every added token (special tokens included), by id."""
        return {token.content: index for index, token in self.added_tokens_decoder.items()}

    def get_added_vocab(self) -> dict[str, int]:
        """The added tokens and their ids, whether or not the sentencepiece model has them."""
        return self.added_tokens_encoder

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """Add tokens (str or `AddedToken`) to the vocabulary; returns how many were registered.

        A str becomes `AddedToken(normalized=not special_tokens, special=special_tokens)`. Tokens the
        vocabulary already holds keep their id (and are from now on never split); new ones get
        the next ids. As in transformers 5 (the `tokenizers` library), the count includes model
        pieces registered as added tokens and excludes tokens already added with the same flags.
        Resize the model's embeddings to `len(tokenizer)` after adding.
        """
        if not new_tokens:
            return 0
        if isinstance(new_tokens, str | AddedToken):
            new_tokens = [new_tokens]
        if not isinstance(new_tokens, list | tuple):
            raise ValueError(f"new_tokens must be a str, an AddedToken or a list of them, got {type(new_tokens).__name__}")
        tokens = [as_added_token(token, special=special_tokens, name=f"new_tokens[{i}]")
                  for i, token in enumerate(new_tokens)]
        return self._add_tokens(tokens, special_tokens)

    def add_special_tokens(self, special_tokens_dict: Mapping, replace_additional_special_tokens: bool = True,
                           replace_extra_special_tokens: bool | None = None) -> int:
        """Set special tokens (`{"pad_token": "[PAD]", "additional_special_tokens": [...]}`) and add them.

        Keys are the special-token attribute names and `additional_special_tokens` (transformers
        5's `extra_special_tokens` too). With `replace_additional_special_tokens=False` the given
        extra tokens extend the list instead of replacing it. Returns `add_tokens`'s count.
        """
        if replace_extra_special_tokens is not None:
            replace_additional_special_tokens = replace_extra_special_tokens
        if not isinstance(special_tokens_dict, Mapping):
            raise ValueError(f"special_tokens_dict must be a dict, got {type(special_tokens_dict).__name__}")
        to_add: list[AddedToken] = []
        for key, value in special_tokens_dict.items():
            if key in _EXTRA_KEYS:
                if not isinstance(value, list | tuple):
                    raise ValueError(f"{key} must be a list of str or AddedToken, got {type(value).__name__}")
                tokens = [as_added_token(t, special=True, name=f"{key}[{i}]") for i, t in enumerate(value)]
                current = [] if replace_additional_special_tokens else self.additional_special_tokens
                self.additional_special_tokens = list(dict.fromkeys([*current, *(t.content for t in tokens)]))
                to_add += tokens
            elif key in SPECIAL_TOKEN_NAMES:
                token = as_added_token(value, special=True, name=key)
                setattr(self, key, token.content)
                to_add.append(token)
            else:
                raise ValueError(f"{key!r} is not a special token name; use one of {(*SPECIAL_TOKEN_NAMES, *_EXTRA_KEYS)}")
        return self._add_tokens(to_add, True) if to_add else 0
