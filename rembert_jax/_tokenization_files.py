"""Reading and writing transformers' tokenizer file set for RemBERT (spec §6.1).

    sentencepiece.model       the sentencepiece Unigram model (both tokenizers)
    tokenizer.json            the serialised `tokenizers.Tokenizer` (fast; also written by the slow one)
    tokenizer_config.json     constructor flags and special tokens, `tokenizer_class: RemBertTokenizer`
    special_tokens_map.json   the special tokens

A location that is not a local path is a Hub id, fetched by `rembert_jax.hub` (only these files).
"""

from __future__ import annotations

import json
import os
from typing import Any

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"

SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Constructor arguments that tokenizer_config.json may carry; the rest (tokenizer_class,
# added_tokens_decoder, name_or_path, ...) describes the files and is not an argument.
CONFIG_ARGUMENTS = (
    *SPECIAL_TOKEN_NAMES,
    "additional_special_tokens",
    "do_lower_case",
    "remove_space",
    "keep_accents",
    "model_max_length",
    "padding_side",
    "truncation_side",
    "clean_up_tokenization_spaces",
)

# transformers' tokenizer switches with no meaning here (the loading keywords go to `hub.HubOptions`).
HUB_ONLY_ARGUMENTS = ("use_fast", "trust_remote_code", "proxies")


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path!r} is not valid JSON ({err})") from err
    if not isinstance(value, dict):
        raise ValueError(f"{path!r} must hold a JSON object, got {type(value).__name__}")
    return value


def _token_content(value) -> Any:
    """A special token as written by transformers: a str, or an AddedToken dict with 'content'."""
    if isinstance(value, dict) and "content" in value:
        return value["content"]
    if isinstance(value, list):
        return [_token_content(v) for v in value]
    return value


def resolve_directory(path: str | os.PathLike, options=None) -> tuple[str, str | None]:
    """(directory, explicit sentencepiece file or None) for a directory, a path to a `.model` file or
    a Hub id (by the location rule of `rembert_jax.hub`)."""
    from .hub import TOKENIZER, resolve_path

    path = resolve_path(path, TOKENIZER, options)
    if os.path.isdir(path):
        return path, None
    return os.path.dirname(path) or ".", path


def read_config(directory: str) -> dict[str, Any]:
    """Constructor arguments from tokenizer_config.json and special_tokens_map.json (either may be absent).

    tokenizer_config.json wins over special_tokens_map.json, as in transformers.
    """
    arguments: dict[str, Any] = {}
    special_path = os.path.join(directory, SPECIAL_TOKENS_FILE)
    if os.path.isfile(special_path):
        for key, value in _read_json(special_path).items():
            if key in CONFIG_ARGUMENTS:
                arguments[key] = _token_content(value)
    config_path = os.path.join(directory, CONFIG_FILE)
    if os.path.isfile(config_path):
        for key, value in _read_json(config_path).items():
            if key in CONFIG_ARGUMENTS:
                arguments[key] = _token_content(value)
    return arguments


def write_config(directory: str, config: dict[str, Any], special_tokens: dict[str, Any], prefix: str) -> list[str]:
    """Write tokenizer_config.json and special_tokens_map.json; returns their paths."""
    paths = []
    for name, content in ((CONFIG_FILE, config), (SPECIAL_TOKENS_FILE, special_tokens)):
        path = os.path.join(directory, f"{prefix}-{name}" if prefix else name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2, sort_keys=True, ensure_ascii=False)
            f.write("\n")
        paths.append(path)
    return paths


class PretrainedFilesMixin:
    """`from_pretrained` / `save_pretrained` over the backend hooks `_from_directory` and `_save_model_files`."""

    @classmethod
    def _from_directory(cls, directory: str, spm_path: str | None, **arguments):
        raise NotImplementedError

    def _save_model_files(self, directory: str, prefix: str) -> list[str]:
        """Write sentencepiece.model and/or tokenizer.json; return their paths."""
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        """Load from a local directory (or a `sentencepiece.model` path) written by transformers or by us.

        Reads tokenizer_config.json and special_tokens_map.json when present; keyword arguments
        override them. A directory with only `sentencepiece.model` works (defaults of spec §6.2).
        """
        from .hub import HubOptions

        path = os.fspath(pretrained_model_name_or_path)
        options = HubOptions.pop_from(kwargs)  # where the files come from (local, cache or Hub)
        for name in HUB_ONLY_ARGUMENTS:  # transformers' switches that choose nothing here
            kwargs.pop(name, None)
        directory, spm_path = resolve_directory(path, options)
        arguments = {**read_config(directory), **kwargs}
        arguments.setdefault("name_or_path", path)
        return cls._from_directory(directory, spm_path, **arguments)

    def _config_arguments(self) -> dict[str, Any]:
        return {
            "do_lower_case": self.do_lower_case,
            "remove_space": self.remove_space,
            "keep_accents": self.keep_accents,
            **{name: token for name, token in self._special_tokens.items() if token is not None},
            "additional_special_tokens": self.additional_special_tokens,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
        }

    def _mask_lstrip(self) -> bool:
        return True

    def save_pretrained(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str, ...]:
        """Write sentencepiece.model, tokenizer.json, tokenizer_config.json, special_tokens_map.json.

        transformers' `AutoTokenizer.from_pretrained(save_directory)` loads the result.
        """
        directory = os.fspath(save_directory)
        if os.path.isfile(directory):
            raise ValueError(f"save_directory {directory!r} is a file; pass a directory")
        os.makedirs(directory, exist_ok=True)
        prefix = filename_prefix or ""
        added = {}
        for token in self.all_special_tokens:
            added[str(self._token_to_id(token))] = {
                "content": token, "lstrip": token == self.mask_token and self._mask_lstrip(), "normalized": False,
                "rstrip": False, "single_word": False, "special": True,
            }
        config = {**self._config_arguments(), "tokenizer_class": "RemBertTokenizer", "added_tokens_decoder": added}
        special = dict(self.special_tokens_map)
        if self.mask_token is not None:
            special["mask_token"] = {**added[str(self.mask_token_id)]}
            special["mask_token"].pop("special")
        paths = write_config(directory, config, special, prefix)
        return (*paths, *self._save_model_files(directory, prefix))

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        """Write `{prefix}-sentencepiece.model` (or `sentencepiece.model`) and return its path."""
        raise NotImplementedError

