"""Hugging Face `datasets` as a data source (the optional `datasets` extra: pip install 'rembert-jax[datasets]').

A split of the `data:` section may name, instead of a file:

    train: {hf: xnli, name: de, split: train}                 # a Hub dataset id, its config and split
    train: {hf: json, data_files: corpus/*.jsonl, split: train} # a `datasets` builder over local files
                                                               # (json, csv, parquet, text, ...)
    train: {disk: path/saved, split: train}                    # a `save_to_disk` directory
    train: path/saved                                          # the same: a Dataset, or the DatasetDict
                                                               #   split named like the key (eval: or
                                                               #   "validation")
    train: {hf: allenai/c4, name: en, split: train, streaming: true, take: 100000}

Other keys: `revision` (Hub), `data_dir`, `take` (the first N examples). `streaming: true` reads the
examples as they arrive instead of downloading and converting the whole dataset first: with `take`,
a slice of a dataset too large to download. The pipeline then tokenises the examples it read
on the host like those of a file (so resume stays exact), which bounds a split by host memory.
Columns are mapped by `data.text_column` etc. as for files; `ClassLabel` columns give their names
(labels -1, "no label", are left out). With HF_DATASETS_OFFLINE=1 (or no network), a dataset
that is not in the local `datasets` cache is a FileNotFoundError naming it.
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
import os
from collections.abc import Mapping
from pathlib import Path

_SAVED_DATASET = ("state.json", "dataset_info.json")  # what Dataset.save_to_disk writes
_SAVED_DATASET_DICT = "dataset_dict.json"  # what DatasetDict.save_to_disk writes


@dataclasses.dataclass(frozen=True)
class HFSource:
    """One split's `datasets` source, checked when the run config is read."""

    hf: str | None = None
    disk: str | None = None
    name: str | None = None
    split: str | None = None
    data_files: str | tuple[str, ...] | None = None
    data_dir: str | None = None
    revision: str | None = None
    streaming: bool = False
    take: int | None = None

    @classmethod
    def from_value(cls, value, key: str) -> HFSource:
        """From a `data.<split>` mapping, or a path to a `save_to_disk` directory."""
        if not isinstance(value, Mapping):
            return cls(disk=os.fspath(value))
        keys = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise ValueError(f"data.{key} has unknown key(s) {unknown}; allowed: {keys}")
        if (value.get("hf") is None) == (value.get("disk") is None):
            raise ValueError(f"data.{key} needs exactly one of 'hf' (a Hub dataset id or a builder such as json) "
                             f"and 'disk' (a save_to_disk directory), got {dict(value)}")
        for text_key in ("hf", "disk", "name", "split", "data_dir", "revision"):
            if value.get(text_key) is not None and not isinstance(value[text_key], str):
                raise ValueError(f"data.{key}.{text_key} is {value[text_key]!r}; allowed: a string")
        if not isinstance(value.get("streaming", False), bool):
            raise ValueError(f"data.{key}.streaming is {value['streaming']!r}; allowed: true or false")
        take = value.get("take")
        if take is not None and (isinstance(take, bool) or not isinstance(take, int) or take < 1):
            raise ValueError(f"data.{key}.take is {take!r}; allowed: an integer >= 1")
        if value.get("hf") is not None and not value.get("split"):
            raise ValueError(f"data.{key} needs a 'split' (e.g. split: train) for the dataset {value['hf']!r}")
        if value.get("disk") is not None and value.get("streaming"):
            raise ValueError(f"data.{key}: streaming reads Hub or local-file datasets; a save_to_disk "
                             "directory is memory-mapped already (leave streaming out)")
        files = value.get("data_files")
        if isinstance(files, list | tuple):
            files = tuple(os.fspath(f) for f in files)
        return cls(**{**value, "data_files": files})

    def describe(self) -> str:
        """How error messages name the source."""
        if self.disk is not None:
            where = f"dataset saved in {self.disk}"
        else:
            where = f"dataset {self.hf!r}" + (f" (config {self.name!r})" if self.name else "")
            if self.data_files:
                where += f" over {self.data_files if isinstance(self.data_files, str) else list(self.data_files)}"
        return where + (f", split {self.split!r}" if self.split else "")


def is_saved_dataset(path: str | os.PathLike) -> bool:
    """Is `path` a directory written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`?"""
    directory = Path(path).expanduser()
    return (directory / _SAVED_DATASET_DICT).is_file() or all((directory / f).is_file() for f in _SAVED_DATASET)


def read_dataset_records(source: HFSource, split_key: str) -> list[dict]:
    """The examples of `source` as plain dicts, in dataset order (the first `take` of them)."""
    datasets = _import_datasets(split_key)
    try:
        dataset = _open(datasets, source, split_key)
        examples = itertools.islice(dataset, source.take) if source.take else dataset
        decode = _label_decoders(getattr(dataset, "features", None))
        records = [_decoded(dict(example), decode) for example in examples]
    except UnicodeDecodeError as e:
        raise ValueError(f"{_undecodable_place(source) or source.describe()}: not UTF-8 text ({e.reason})") from None
    if not records:
        raise ValueError(f"{source.describe()}: no examples; give a split with at least one")
    return records


def _import_datasets(split_key: str):
    try:
        import datasets
    except ImportError:
        raise ValueError(f"data.{split_key} names a Hugging Face dataset, which needs the `datasets` package: "
                         "pip install 'rembert-jax[datasets]'") from None
    return datasets


def _open(datasets, source: HFSource, split_key: str):
    """The Dataset (or IterableDataset) of one split; errors name the dataset."""
    what = source.describe()
    if source.disk is not None:
        directory = Path(source.disk).expanduser()
        if not is_saved_dataset(directory):
            raise FileNotFoundError(f"data.{split_key}: {os.fspath(source.disk)!r} is not a directory written by "
                                    "Dataset.save_to_disk (no dataset_dict.json or state.json in it)")
        saved = datasets.load_from_disk(os.fspath(directory))
        if not isinstance(saved, datasets.DatasetDict):
            return saved
        # a plain path takes the split named like the data key (eval: also "validation")
        names = [source.split] if source.split else [split_key, *(["validation"] if split_key == "eval" else [])]
        for name in names:
            if name in saved:
                return saved[name]
        raise ValueError(f"data.{split_key}: the dataset saved in {source.disk} has no split {names[0]!r} (its "
                         f"splits: {list(saved)}); pick one with {{disk: {source.disk}, split: NAME}}")
    try:
        return datasets.load_dataset(source.hf, source.name, split=source.split, data_files=_files(source.data_files),
                                     data_dir=source.data_dir, revision=source.revision, streaming=source.streaming)
    except ConnectionError as e:  # offline (HF_DATASETS_OFFLINE=1) or no network, and not in the local cache
        raise FileNotFoundError(f"data.{split_key}: {what} is not in the local datasets cache and could not be "
                                f"downloaded ({e}); download it once with network access, or give local files") from None
    except FileNotFoundError as e:  # datasets.exceptions.DatasetNotFoundError is one
        raise FileNotFoundError(f"data.{split_key}: {what} not found ({e})") from None
    except ValueError as e:  # an unknown config or split: datasets' message lists the ones there are
        raise ValueError(f"data.{split_key}: {what}: {e}") from None


def _files(data_files):
    if data_files is None or isinstance(data_files, str):
        return None if data_files is None else os.path.expanduser(data_files)
    return [os.path.expanduser(f) for f in data_files]


def _label_decoders(features) -> dict:
    """column -> ClassLabel for the columns holding class ids (or lists of them), so records carry names."""
    if not features:
        return {}
    from datasets import ClassLabel

    decoders = {}
    for column, feature in features.items():
        inner = getattr(feature, "feature", None)  # Sequence / List of ClassLabel
        if isinstance(feature, ClassLabel):
            decoders[column] = (feature, False)
        elif isinstance(inner, ClassLabel):
            decoders[column] = (inner, True)
    return decoders


def _decoded(record: dict, decoders: dict) -> dict:
    for column, (label, is_list) in decoders.items():
        value = record.get(column)
        if value is None:
            continue
        if is_list:
            record[column] = [label.int2str(int(v)) for v in value]
        elif int(value) < 0:  # -1: no label (e.g. the test split of GLUE tasks)
            del record[column]
        else:
            record[column] = label.int2str(int(value))
    return record


def _undecodable_place(source: HFSource) -> str | None:
    """`file:line` of the first line of local `data_files` that is not UTF-8 (None when not found)."""
    from .files import first_undecodable_line

    files = _files(source.data_files)
    for pattern in [files] if isinstance(files, str) else files or []:
        for file in sorted(glob.glob(pattern)) or [pattern]:
            line = first_undecodable_line(Path(file)) if os.path.isfile(file) else None
            if line is not None:
                return f"{file}:{line}"
    return None
