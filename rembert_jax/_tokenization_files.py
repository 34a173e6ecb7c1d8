"""Reading and writing transformers' tokenizer file set for RemBERT (spec §6.1).

    sentencepiece.model       the sentencepiece Unigram model (both tokenizers)
    tokenizer.json            the serialised `tokenizers.Tokenizer` (fast; also written by the slow one)
    tokenizer_config.json     constructor flags and special tokens, `tokenizer_class: RemBertTokenizer`
    special_tokens_map.json   the special tokens

Only local paths are read: a hub id is never downloaded.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ._tokenization_convert import SPM_FILE

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


def resolve_directory(path: str | os.PathLike) -> tuple[str, str | None]:
    """(directory, explicit sentencepiece file or None) for a directory or a path to a `.model` file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return path, None
    if os.path.isfile(path):
        return os.path.dirname(path) or ".", path
    raise FileNotFoundError(
        f"no tokenizer directory or file at {path!r}: from_pretrained reads a local directory holding "
        f"{SPM_FILE} and/or {TOKENIZER_FILE} (hub ids are not downloaded; fetch the files first)"
    )


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
