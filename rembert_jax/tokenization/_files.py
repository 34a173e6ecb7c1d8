"""Reading and writing transformers' tokenizer file set for RemBERT (spec §6.1).

    sentencepiece.model       the sentencepiece Unigram model (both tokenizers)
    tokenizer.json            the serialised `tokenizers.Tokenizer` (fast; also written by the slow one)
    tokenizer_config.json     constructor flags and special tokens, `tokenizer_class: RemBertTokenizer`
    special_tokens_map.json   the special tokens
    added_tokens.json         tokens added beyond the sentencepiece model ({content: id}), when there are any

A location is read by the rule of `rembert_jax.hub`: a local path, a model preset's name (`"tiny"`
reads that preset's tokenizer, `rembert_jax.tokenization._presets`) or a Hub id (only these files
are fetched).
"""

from __future__ import annotations

import json
import os
from typing import Any

from . import _presets as presets

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"

ADDED_TOKENS_FILE = "added_tokens.json"

SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
EXTRA_SPECIAL_KEYS = ("additional_special_tokens", "extra_special_tokens")  # transformers 4.x / 5.x names
# Constructor arguments the tokenizers read themselves; every other key of tokenizer_config.json
# (other than FILE_KEYS) is kept in `init_kwargs` and written back, as transformers does.
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
# Keys that describe the files or the loading, not the tokenizer: never constructor arguments.
FILE_KEYS = ("tokenizer_class", "name_or_path", "auto_map", "processor_class", "special_tokens_map_file",
             "tokenizer_file", "vocab_file", "files_loaded", "is_local", "local_files_only", "tokenizer_object")

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


def split_location(path: str) -> tuple[str, str | None]:
    """(directory, explicit sentencepiece file or None) for a resolved local directory or `.model` file."""
    if os.path.isdir(path):
        return path, None
    return os.path.dirname(path) or ".", path


def _special_arguments(values: dict[str, Any], source: str) -> dict[str, Any]:
    """The special tokens among `values` as token strings; `extra_special_tokens` read as `additional_special_tokens`."""
    arguments = {key: _token_content(value) for key, value in values.items() if key in SPECIAL_TOKEN_NAMES}
    for key in EXTRA_SPECIAL_KEYS:
        value = values.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise ValueError(f"{source}: {key} must be a list of tokens, got {type(value).__name__}: {value!r:.80}")
        arguments.setdefault("additional_special_tokens", [])
        for token in _token_content(value):
            if token not in arguments["additional_special_tokens"]:
                arguments["additional_special_tokens"].append(token)
    return arguments


def _legacy_added_tokens(directory: str, arguments: dict[str, Any], from_tokenizer_json: bool) -> dict[int, dict]:
    """`added_tokens_decoder` from added_tokens.json and tokenizer.json, for configs that do not list it.

    transformers' rule: a token of added_tokens.json is special when it is one of the special
    tokens (then not normalized); tokenizer.json's entries carry their own flags.
    """
    decoder: dict[int, dict] = {}
    added_path = os.path.join(directory, ADDED_TOKENS_FILE)
    if os.path.isfile(added_path):
        special = {arguments.get(name) for name in SPECIAL_TOKEN_NAMES} | set(arguments.get(
            "additional_special_tokens") or [])
        for content, index in _read_json(added_path).items():
            if isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"{added_path!r}: the id of {content!r} must be an int, got {index!r}")
            decoder[index] = {"content": content, "lstrip": False, "rstrip": False, "single_word": False,
                              "normalized": content not in special, "special": content in special}
    tokenizer_path = os.path.join(directory, TOKENIZER_FILE)
    if from_tokenizer_json and os.path.isfile(tokenizer_path):
        entries = _read_json(tokenizer_path).get("added_tokens") or []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
                raise ValueError(f"{tokenizer_path!r}: added_tokens entries need an int 'id', got {entry!r:.80}")
            decoder[entry["id"]] = {key: value for key, value in entry.items() if key != "id"}
    return decoder


def read_config(directory: str, *, tokenizer_json_tokens: bool = True) -> dict[str, Any]:
    """Constructor arguments from the tokenizer files of `directory` (any of them may be absent).

    special_tokens_map.json gives the special tokens; tokenizer_config.json wins over it and adds
    the flags, unknown keys (kept in `init_kwargs`) and `added_tokens_decoder`. A config without
    `added_tokens_decoder` (older transformers, or transformers 5's fast files) gets it from
    added_tokens.json and tokenizer.json, as transformers reads them (`tokenizer_json_tokens=False`:
    not from tokenizer.json, for the fast class, which loads that file itself).
    """
    arguments: dict[str, Any] = {}
    special_path = os.path.join(directory, SPECIAL_TOKENS_FILE)
    if os.path.isfile(special_path):
        arguments.update(_special_arguments(_read_json(special_path), special_path))
    config_path = os.path.join(directory, CONFIG_FILE)
    if os.path.isfile(config_path):
        config = _read_json(config_path)
        arguments.update(_special_arguments(config, config_path))
        arguments.update({key: value for key, value in config.items() if key not in (
            *SPECIAL_TOKEN_NAMES, *EXTRA_SPECIAL_KEYS, *FILE_KEYS)})
    if "added_tokens_decoder" not in arguments:
        decoder = _legacy_added_tokens(directory, arguments, tokenizer_json_tokens)
        if decoder:
            arguments["added_tokens_decoder"] = decoder
    return arguments


def _write_json(directory: str, name: str, prefix: str, content: dict[str, Any]) -> str:
    text = json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path = os.path.join(directory, f"{prefix}-{name}" if prefix else name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


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
        """Load from a local directory (or a `sentencepiece.model` path) written by transformers or by us,
        a model preset's name (`"tiny"`, see `from_preset`) or a Hub id, by the rule of `rembert_jax.hub`.

        Reads tokenizer_config.json and special_tokens_map.json when present; keyword arguments
        override them. A directory with only `sentencepiece.model` works (defaults of spec §6.2).
        """
        from ..hub import TOKENIZER_OR_PRESET, HubOptions, resolve

        path = os.fspath(pretrained_model_name_or_path)
        options = HubOptions.pop_from(kwargs)  # where the files come from (local, cache or Hub)
        for name in HUB_ONLY_ARGUMENTS:  # transformers' switches that choose nothing here
            kwargs.pop(name, None)
        resolved = resolve(path, TOKENIZER_OR_PRESET, options)
        if resolved.kind == "preset":
            return presets.load_preset(cls, resolved.path, **options.as_kwargs(), **kwargs)
        directory, spm_path = split_location(resolved.path)
        arguments = {**read_config(directory, tokenizer_json_tokens=not cls.is_fast), **kwargs}
        arguments.setdefault("name_or_path", path)
        return cls._from_directory(directory, spm_path, **arguments)

    @classmethod
    def from_preset(cls, name: str, **kwargs):
        """The tokenizer of the model preset `name`, the one `RemBertConfig.from_preset(name)` fits:
        `tiny` is shipped with the package (3,000 multilingual pieces, vocab_size 3000); `rembert` is
        google/rembert's, read from the Hugging Face Hub (a clear error when it is not available)."""
        return presets.load_preset(cls, name, **kwargs)

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

    def save_pretrained(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str, ...]:
        """Write transformers' file set: tokenizer_config.json, special_tokens_map.json, sentencepiece.model,
        added_tokens.json (tokens beyond the model, if any) and tokenizer.json.

        tokenizer_config.json holds the flags, the keys of `init_kwargs` this class does not use,
        and every added token with its flags (`added_tokens_decoder`), as transformers 4.x writes
        it; transformers (4.x and 5.x) `AutoTokenizer.from_pretrained(save_directory)` loads the
        result with the same ids.
        """
        directory = os.fspath(save_directory)
        if os.path.isfile(directory):
            raise ValueError(f"save_directory {directory!r} is a file; pass a directory")
        decoder = {str(index): token_state for index, token_state in self._added_token_states().items()}
        # transformers writes an init keyword's current value when the tokenizer has that attribute.
        extras = {key: getattr(self, key, value) for key, value in self.init_kwargs.items()
                  if key not in (*CONFIG_ARGUMENTS, *FILE_KEYS, "added_tokens_decoder")}
        config = {**extras, **self._config_arguments(), "tokenizer_class": "RemBertTokenizer",
                  "added_tokens_decoder": decoder}
        json.dumps(config)  # anything not JSON (an extra keyword) fails here, before a file is written
        special = dict(self.special_tokens_map)
        if self.mask_token is not None and str(self.mask_token_id) in decoder:
            special["mask_token"] = {key: value for key, value in decoder[str(self.mask_token_id)].items()
                                     if key != "special"}
        beyond = {state["content"]: int(index) for index, state in decoder.items() if int(index) >= self.vocab_size}
        os.makedirs(directory, exist_ok=True)
        prefix = filename_prefix or ""
        paths = [_write_json(directory, CONFIG_FILE, prefix, config),
                 _write_json(directory, SPECIAL_TOKENS_FILE, prefix, special)]
        if beyond:
            paths.append(_write_json(directory, ADDED_TOKENS_FILE, prefix, beyond))
        return (*paths, *self._save_model_files(directory, prefix))

    def _added_token_states(self) -> dict[int, dict]:
        """id -> the saved dict of every added token (`AddedToken.__getstate__`), by id."""
        return {index: dict(token.__getstate__()) for index, token in self.added_tokens_decoder.items()}

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        """Write `{prefix}-sentencepiece.model` (or `sentencepiece.model`) and return its path."""
        raise NotImplementedError
