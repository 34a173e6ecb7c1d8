"""Where a model, config or tokenizer lives: one rule for every location string (jax-free).

Every entry point that takes a location (`from_pretrained` of the config, tokenizers and adapters,
the `rembert_jax.convert` loaders, `rembert-jax convert SRC`, `--model`, `model.init_from`,
`model.config`, `data.tokenizer`) turns it into local files through `resolve`:

1. `preset:NAME` is a config preset shipped in `rembert_jax/configs` (only where a config is wanted).
2. An existing local path (file or directory) is used as it is. A bare preset name (`tiny`) is the
   one exception: a folder of that name in the working directory wins only when it holds
   config.json, and then a warning names the preset it shadows (write `preset:tiny` or `./tiny`).
3. A preset name (where a config is wanted).
4. Otherwise a Hub id (`org/name` or `name`), fetched by `huggingface_hub` into its standard cache
   (`HF_HOME` / `HF_HUB_CACHE`, or `cache_dir=`), honouring `revision=`, `token=`,
   `local_files_only=`, `HF_HUB_OFFLINE`, `subfolder=` and `force_download=`. Only the files the
   call needs are downloaded: config.json and the first weights file that exists in the order
   transformers uses (safetensors, then pytorch_model.bin, then tf_model.h5; an index brings only
   its shards).

The result is a local directory (or file) that the readers open as they open any folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

from .configs import preset_names

logger = logging.getLogger("rembert_jax.hub")

PRESET_PREFIX = "preset:"
CONFIG_FILE = "config.json"
PYTORCH_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                   "pytorch_model.bin.index.json")
KERAS_WEIGHTS = ("tf_model.h5", "tf_model.h5.index.json")
TOKENIZER_MODELS = ("sentencepiece.model", "tokenizer.json")
TOKENIZER_EXTRAS = ("tokenizer_config.json", "special_tokens_map.json")

# transformers' from_pretrained keywords that steer where files come from. They are consumed by
# `HubOptions.pop_from`, never passed on as config overrides (so never written into config.json).
_HUB_KEYWORDS = ("cache_dir", "revision", "token", "local_files_only", "subfolder", "force_download")
_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub's spelling of a true environment variable
_LEGACY_KEYWORDS = ("use_auth_token", "proxies", "resume_download", "mirror", "_commit_hash", "user_agent",
                    "trust_remote_code", "_from_auto", "_from_pipeline")


@dataclasses.dataclass(frozen=True)
class Wanted:
    """The files a call needs: every `required` one, and the first of `one_of` that exists (an
    `*.index.json` among them brings the shards it names); `optional` ones are fetched if present."""

    what: str
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    config: bool = False  # presets answer it (a config, or a preset's tokenizer)

    def present_in(self, directory: str) -> bool:
        has = lambda name: os.path.isfile(os.path.join(directory, name))
        return all(map(has, self.required)) and (not self.one_of or any(map(has, self.one_of)))


CONFIG = Wanted("a model config", required=(CONFIG_FILE,), config=True)
MODEL = Wanted("RemBERT weights", required=(CONFIG_FILE,), one_of=PYTORCH_WEIGHTS + KERAS_WEIGHTS)
MODEL_KERAS_FIRST = dataclasses.replace(MODEL, one_of=KERAS_WEIGHTS + PYTORCH_WEIGHTS)
PYTORCH_MODEL = Wanted("PyTorch RemBERT weights", required=(CONFIG_FILE,), one_of=PYTORCH_WEIGHTS)
KERAS_MODEL = Wanted("Keras (tf_model.h5) RemBERT weights", required=(CONFIG_FILE,), one_of=KERAS_WEIGHTS)
TOKENIZER = Wanted("a RemBERT tokenizer", one_of=TOKENIZER_MODELS, optional=TOKENIZER_MODELS + TOKENIZER_EXTRAS)
# A tokenizer's from_pretrained also takes a model preset's name (that preset's tokenizer).
TOKENIZER_OR_PRESET = dataclasses.replace(TOKENIZER, config=True)


@dataclasses.dataclass(frozen=True)
class HubOptions:
    """transformers' loading keywords (see `huggingface_hub.hf_hub_download` for each)."""

    cache_dir: str | None = None
    revision: str | None = None
    token: str | bool | None = None
    local_files_only: bool = False
    subfolder: str = ""
    force_download: bool = False

    @classmethod
    def pop_from(cls, kwargs: dict[str, Any]) -> HubOptions:
        """Take the loading keywords out of `kwargs` (a from_pretrained's **kwargs), leaving the rest."""
        found = {name: kwargs.pop(name) for name in _HUB_KEYWORDS if name in kwargs}
        legacy_token = kwargs.pop("use_auth_token", None)
        if found.get("token") is None and legacy_token is not None:
            found["token"] = legacy_token
        for name in _LEGACY_KEYWORDS:  # accepted so transformers call sites run; no effect here
            kwargs.pop(name, None)
        found = {k: v for k, v in found.items() if v is not None}
        if "cache_dir" in found:
            found["cache_dir"] = os.fspath(found["cache_dir"])
        return cls(**found)

    def as_kwargs(self) -> dict[str, Any]:
        """The keywords that differ from the defaults, to pass on to another from_pretrained."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != f.default}


@dataclasses.dataclass(frozen=True)
class Resolved:
    """`kind` "path" (a local file or folder), "hub" (a folder in the Hub cache) or "preset" (`path` is
    then the preset's name)."""

    kind: str
    path: str


def resolve(location: str | os.PathLike, wanted: Wanted, options: HubOptions | None = None) -> Resolved:
    """The local files of `location` that hold what `wanted` describes (see the module docstring)."""
    options = options or HubOptions()
    text = os.fspath(location)
    presets = preset_names() if wanted.config else ()
    if wanted.config and text.startswith(PRESET_PREFIX):
        name = text[len(PRESET_PREFIX):]
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; available: {', '.join(presets)}")
        return Resolved("preset", name)
    local = os.path.join(text, options.subfolder) if options.subfolder else text
    if os.path.exists(local) or os.path.isfile(local + ".index"):  # a file, a folder or a TF1 checkpoint prefix
        if text in presets and not (os.path.isfile(local) or wanted.present_in(local)):
            return Resolved("preset", text)  # a folder without config.json does not shadow the preset
        if text in presets:
            logger.warning("%r is a directory in the working directory and also the name of a preset: the "
                           "directory %s is used. Write 'preset:%s' for the preset (or './%s' to silence this).",
                           text, os.path.abspath(local), text, text)
        return Resolved("path", local)
    if text in presets:
        return Resolved("preset", text)
    try:
        return Resolved("hub", _from_hub(text, wanted, options, presets=presets))
    except FileNotFoundError as e:
        if presets and "/" not in text:  # a bare name: perhaps a misspelt preset
            raise FileNotFoundError(f"{e} (presets: {', '.join(presets)})") from None
        raise


def resolve_path(location: str | os.PathLike, wanted: Wanted, options: HubOptions | None = None) -> str:
    """`resolve` for weights and tokenizers (where presets are no answer): the local folder or file."""
    if wanted.config:
        raise ValueError("resolve_path is for weights and tokenizers; a config location may be a preset: use resolve")
    return resolve(location, wanted, options).path


# ------------------------------------------------------------------------------------------ the Hub


def _is_repo_id(text: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def _offline(options: HubOptions) -> bool:
    from huggingface_hub import constants

    # Read at call time too: huggingface_hub reads the variable once, when it is first imported.
    variable = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(options.local_files_only or constants.HF_HUB_OFFLINE or variable.upper() in _TRUE)


def _cache_dir(options: HubOptions) -> str:
    from huggingface_hub import constants

    return options.cache_dir or constants.HF_HUB_CACHE


def _from_hub(repo_id: str, wanted: Wanted, options: HubOptions, *, presets: tuple[str, ...]) -> str:
    if not _is_repo_id(repo_id):
        known = f", nor a preset ({', '.join(presets)})" if presets else ""
        raise FileNotFoundError(f"{repo_id!r} does not exist (no such file or directory) and is not a Hub id "
                                f"like 'org/name'{known}")
    fetch = _Fetcher(repo_id, options, wanted)
    for name in wanted.required:
        if fetch(name) is None:
            fetch.missing(name)
    if wanted.one_of:
        for name in wanted.one_of:
            path = fetch(name)
            if path is not None:
                if name.endswith(".index.json"):
                    for shard in _shards(path):
                        if fetch(shard) is None:
                            fetch.missing(shard)
                break
        else:
            fetch.missing(" or ".join(wanted.one_of))
    for name in wanted.optional:
        fetch(name)
    return fetch.folder


def _shards(index_path: str) -> list[str]:
    try:
        with open(index_path, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
        return sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{index_path} is not a valid sharded-checkpoint index ({e})") from None


class _Fetcher:
    """`hf_hub_download` of one repo's files, one at a time; None for a file the repo lacks."""

    def __init__(self, repo_id: str, options: HubOptions, wanted: Wanted):
        self.repo_id, self.options, self.wanted = repo_id, options, wanted
        self.offline = _offline(options)
        self.folder: str | None = None
        self._answers: dict[str, str | None] = {}  # one question per file


    def _describe(self) -> str:
        return f"{self.repo_id!r} (revision {self.options.revision or 'main'!r})"

    def __call__(self, filename: str) -> str | None:
        if filename not in self._answers:
            self._answers[filename] = self._download(filename)
        return self._answers[filename]

    def _download(self, filename: str) -> str | None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RemoteEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        o = self.options
        try:
            path = hf_hub_download(self.repo_id, filename, subfolder=o.subfolder or None, revision=o.revision,
                                   cache_dir=o.cache_dir, token=o.token, local_files_only=self.offline,
                                   force_download=o.force_download, endpoint=os.environ.get("HF_ENDPOINT"),
                                   library_name="rembert-jax")
        except GatedRepoError:
            raise PermissionError(
                f"{self._describe()} is a gated repository: accept its conditions at "
                f"https://huggingface.co/{self.repo_id} and pass token=... (or log in with `hf auth login`, or "
                "set HF_TOKEN)") from None
        except RevisionNotFoundError:
            raise FileNotFoundError(f"{self._describe()}: the Hub repository has no revision "
                                    f"{o.revision!r}; give a branch, tag or commit it has") from None
        except RepositoryNotFoundError:
            raise FileNotFoundError(
                f"{self._describe()} is not a repository on the Hub, or it is private: check the id, and for a "
                "private repository pass token=... (or log in with `hf auth login`, or set HF_TOKEN)") from None
        except RemoteEntryNotFoundError:
            return None  # the repo has no such file
        except LocalEntryNotFoundError as e:  # not in the cache, and the Hub was not asked or not reached
            return self._not_cached(e)
        except HfHubHTTPError as e:
            if e.response is not None and e.response.status_code == 401:
                raise PermissionError(f"{self._describe()} needs a token: pass token=... (or log in with "
                                      "`hf auth login`, or set HF_TOKEN)") from None
            raise
        if self.folder is None:  # the snapshot folder (subfolder included) the files are linked into
            self.folder = path[: -(len(filename) + 1)]
        return path

    def _not_cached(self, error: Exception) -> None:
        """A file not in the cache: absent from a cached snapshot (None), or no snapshot at all (raise)."""
        if self._snapshot() is not None:
            return None  # the cached snapshot lacks the file: take it as absent (as offline transformers does)
        if self.options.local_files_only:
            reason = "local_files_only=True was passed"
        elif self.offline:
            reason = "HF_HUB_OFFLINE is set"
        else:
            reason = f"the Hub could not be reached ({os.environ.get('HF_ENDPOINT') or 'https://huggingface.co'})"
        raise FileNotFoundError(
            f"{self._describe()} is not in the Hugging Face cache at {_cache_dir(self.options)}, and {reason}, so "
            "it cannot be downloaded: run once online (without HF_HUB_OFFLINE / local_files_only), pass "
            "cache_dir= where it is cached, or give a local directory") from None

    def _snapshot(self) -> str | None:
        """The cached snapshot folder of the revision (subfolder included), or None."""
        from huggingface_hub import constants
        from huggingface_hub.file_download import repo_folder_name

        repo = os.path.join(_cache_dir(self.options), repo_folder_name(repo_id=self.repo_id, repo_type="model"))
        revision = self.options.revision or constants.DEFAULT_REVISION
        ref = os.path.join(repo, "refs", revision)
        if os.path.isfile(ref):
            with open(ref, encoding="utf-8") as f:
                revision = f.read().strip()
        folder = os.path.join(repo, "snapshots", revision, self.options.subfolder or "")
        return folder if os.path.isdir(folder) else None

    def missing(self, filename: str):
        """Raise: the repo (or its cached snapshot) lacks `filename`; say which files it has."""
        files = self._repo_files()
        where = f" in subfolder {self.options.subfolder!r}" if self.options.subfolder else ""
        listing = ", ".join(files) if files else "no files"
        raise FileNotFoundError(f"{self._describe()} has no {filename}{where}, so it does not hold "
                                f"{self.wanted.what}; it has: {listing}")

    def _repo_files(self) -> list[str]:
        if not self.offline:
            from huggingface_hub import HfApi
            from huggingface_hub.errors import HfHubHTTPError

            try:
                files = HfApi(endpoint=os.environ.get("HF_ENDPOINT")).list_repo_files(
                    self.repo_id, revision=self.options.revision, token=self.options.token)
                prefix = f"{self.options.subfolder.strip('/')}/" if self.options.subfolder else ""
                return sorted(f[len(prefix):] for f in files if f.startswith(prefix))
            except (HfHubHTTPError, OSError):
                pass  # fall back on what the cache holds
        folder = self._snapshot()
        if folder is None:
            return []
        return sorted(os.path.relpath(os.path.join(root, f), folder)
                      for root, _, names in os.walk(folder) for f in names)
