"""Hugging Face `datasets` as a data source, offline (HF_DATASETS_OFFLINE=1, see conftest) on datasets
the tests build: save_to_disk directories, the json builder over local files, streaming, ClassLabel
columns, errors naming the dataset, and `rembert-jax train` on them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rembert_jax.train.data import DataSpec, load_task_dataset, load_tokenizer
from rembert_jax.train.data.files import DEMO_DIR, read_records

datasets = pytest.importorskip("datasets", reason="the `datasets` extra is not installed")

LANGUAGES = ("en", "ru", "zh")


@pytest.fixture(scope="module")
def rows():
    """36 train and 12 dev records of three demo languages."""
    picked = [r for r in read_records(DEMO_DIR / "train.jsonl") if r["label"] in LANGUAGES]
    return picked[:36], picked[36:48]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("demo:")


@pytest.fixture(scope="module")
def files(rows, tmp_path_factory):
    """The rows as train.jsonl / dev.jsonl and as a DatasetDict saved with save_to_disk."""
    root = tmp_path_factory.mktemp("hf")
    train, dev = rows
    for name, part in (("train.jsonl", train), ("dev.jsonl", dev)):
        (root / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
    datasets.DatasetDict({"train": datasets.Dataset.from_list(train),
                          "validation": datasets.Dataset.from_list(dev)}).save_to_disk(root / "saved")
    return root


def _features(spec: dict, tokenizer, split: str = "train"):
    data = load_task_dataset(DataSpec.from_mapping({"labels": list(LANGUAGES), **spec}), tokenizer, split,
                             task="sequence_classification")
    return [(list(f["input_ids"]), int(f["labels"])) for f in data.features], data


def test_saved_dataset_and_json_builder_read_what_the_jsonl_file_holds(files, tokenizer):
    expected, _ = _features({"train": str(files / "train.jsonl")}, tokenizer)
    for source in (str(files / "saved"),  # a plain path: the split named like the data key
                   {"disk": str(files / "saved"), "split": "train"},
                   {"hf": "json", "data_files": str(files / "train.jsonl"), "split": "train"},
                   {"hf": "json", "data_files": [str(files / "train.jsonl")], "split": "train", "streaming": True}):
        got, data = _features({"train": source}, tokenizer)
        assert got == expected, source
    eval_got, _ = _features({"eval": str(files / "saved")}, tokenizer, "eval")  # eval -> "validation"
    assert eval_got == _features({"eval": str(files / "dev.jsonl")}, tokenizer, "eval")[0]


def test_take_reads_the_first_examples_streamed_or_not(files, tokenizer):
    expected, _ = _features({"train": str(files / "train.jsonl")}, tokenizer)
    for streaming in (False, True):
        got, data = _features({"train": {"hf": "json", "data_files": str(files / "train.jsonl"), "split": "train",
                                         "streaming": streaming, "take": 5}}, tokenizer)
        assert got == expected[:5] and len(data.examples) == 5


def test_class_label_columns_give_their_names_and_minus_one_is_no_label(tmp_path, tokenizer):
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["zh", "en", "ru"])})
    labeled = datasets.Dataset.from_dict({"text": ["hello world", "привет"], "label": [1, 2]}, features=features)
    unlabeled = datasets.Dataset.from_dict({"text": ["你好", "hello"], "label": [-1, -1]}, features=features)
    labeled.save_to_disk(tmp_path / "labeled")
    unlabeled.save_to_disk(tmp_path / "unlabeled")
    train = load_task_dataset(DataSpec(train=str(tmp_path / "labeled"), tokenizer="demo:"), tokenizer, "train",
                              task="sequence_classification")
    assert [r["label"] for r in train.examples] == ["en", "ru"] and train.label_names == ("en", "ru")
    test = load_task_dataset(DataSpec(train=str(tmp_path / "labeled"), test=str(tmp_path / "unlabeled")), tokenizer,
                             "test", task="sequence_classification")
    assert not test.labeled  # every label was -1: a file to predict, not to score


def test_missing_dataset_offline_is_an_error_naming_it(tokenizer):
    spec = DataSpec(train={"hf": "rembert-jax-tests/no-such-dataset", "name": "de", "split": "train"})
    with pytest.raises(FileNotFoundError, match=r"data\.train: dataset 'rembert-jax-tests/no-such-dataset' "
                                                r"\(config 'de'\), split 'train' is not in the local datasets cache"):
        load_task_dataset(spec, tokenizer, "train", task="sequence_classification")


def test_missing_split_of_a_saved_dataset_lists_the_splits(files, tokenizer):
    spec = DataSpec(test=str(files / "saved"), labels=LANGUAGES)
    with pytest.raises(ValueError, match=r"has no split 'test' \(its splits: \['train', 'validation'\]\); pick one"):
        load_task_dataset(spec, tokenizer, "test", task="sequence_classification")


def test_non_utf8_bytes_read_by_the_json_builder_name_the_file_and_line(tmp_path, tokenizer):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "un", "label": "en"}\n{"text": "d\xe9j\xe0", "label": "en"}\n')
    spec = DataSpec(train={"hf": "json", "data_files": str(bad), "split": "train"}, labels=LANGUAGES)
    with pytest.raises(ValueError, match=rf"{bad}:2: not UTF-8 text"):
        load_task_dataset(spec, tokenizer, "train", task="sequence_classification")


@pytest.mark.parametrize(("source", "message"), [
    ({"hf": "xnli", "split": "train", "config": "de"}, r"data\.train has unknown key\(s\) \['config'\]"),
    ({"hf": "xnli", "disk": "x", "split": "train"}, r"needs exactly one of 'hf' .* and 'disk'"),
    ({"hf": "xnli", "name": "de"}, r"data\.train needs a 'split' \(e\.g\. split: train\) for the dataset 'xnli'"),
    ({"hf": "xnli", "split": "train", "take": 0}, r"data\.train\.take is 0; allowed: an integer >= 1"),
    ({"hf": "xnli", "split": "train", "streaming": "yes"}, r"data\.train\.streaming is 'yes'"),
    ({"disk": "x", "streaming": True}, r"streaming reads Hub or local-file datasets"),
], ids=["unknown_key", "hf_and_disk", "no_split", "take_0", "streaming_text", "streaming_disk"])
def test_bad_dataset_sources_are_named_when_the_config_is_read(source, message):
    with pytest.raises(ValueError, match=message):
        DataSpec.from_mapping({"train": source})


def test_train_command_trains_and_evaluates_on_datasets_and_eval_and_predict_read_them(files, tmp_path, capsys):
    from rembert_jax.cli import main

    out = tmp_path / "run"
    config = {
        "task": "sequence_classification", "output_dir": str(out),
        "model": {"config": "tiny", "overrides": {"max_position_embeddings": 32}},
        "data": {"train": {"disk": str(files / "saved"), "split": "train"},
                 "eval": {"hf": "json", "data_files": str(files / "dev.jsonl"), "split": "train"},
                 "tokenizer": "demo:", "max_length": 32, "buckets": [32]},
        "optim": {"learning_rate": 3e-3, "warmup_steps": 1},
        "train": {"steps": 4, "batch_size": 8, "log_every": 1, "eval_every": 4, "progress_bar": False},
        "checkpoint": {"every": 4}, "export": {"formats": []},
    }
    (tmp_path / "run.yaml").write_text(json.dumps(config))  # JSON is YAML
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["eval_metrics"]["accuracy"] <= 1.0
    losses = [json.loads(line).get("loss") for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert np.isfinite([x for x in losses if x is not None]).all() and len([x for x in losses if x is not None]) == 4

    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run.yaml"), "--input", str(files / "saved")]) == 0  # its "validation"
    scored = json.loads(capsys.readouterr().out)
    assert scored["data"] == f"dataset saved in {files / 'saved'}" and 0.0 <= scored["accuracy"] <= 1.0
    datasets.load_from_disk(files / "saved")["validation"].save_to_disk(tmp_path / "plain")  # a Dataset, no splits
    assert main(["predict", str(tmp_path / "run.yaml"), "--output", str(tmp_path / "p.jsonl"),
                 "--input", str(tmp_path / "plain")]) == 0
    predictions = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(predictions) == 12 and all(p["prediction"] in LANGUAGES for p in predictions)
