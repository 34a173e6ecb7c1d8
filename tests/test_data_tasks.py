"""Task adapters: tokenised features per task, label mapping, word-piece label alignment, bad input."""

import numpy as np
import pytest
from data_fixtures import reference_tokenizer, write_jsonl

from rembert_jax.train.data import load_task_dataset
from rembert_jax.train.data.task_features import IGNORE_INDEX, align_labels_to_pieces


@pytest.fixture(scope="module")
def tok():
    return reference_tokenizer()


def _load(tmp_path, records, task, split="train", name="train.jsonl", **spec):
    path = write_jsonl(tmp_path / name, records)
    spec = {split: str(path), **spec}
    return load_task_dataset(spec, reference_tokenizer(), split, task=task)


def test_single_text_classification_matches_the_tokenizer_and_maps_labels_in_sorted_order(tmp_path, tok):
    records = [{"text": "Everyone has the right to life.", "label": "en"},
               {"text": "Toute personne a droit à la vie.", "label": "fr"},
               {"text": "All are equal before the law.", "label": "en"}]
    data = _load(tmp_path, records, "sequence_classification")
    expected = tok(records[1]["text"], return_token_type_ids=True)
    np.testing.assert_array_equal(data.features[1]["input_ids"], expected["input_ids"])
    assert data.features[1]["input_ids"][0] == tok.cls_token_id and data.features[1]["input_ids"][-1] == tok.sep_token_id
    assert data.label_names == ("en", "fr")
    assert [f["labels"] for f in data.features] == [0, 1, 0]
    assert data.num_labels == 2 and len(data) == 3
    np.testing.assert_array_equal(data.lengths, [len(f["input_ids"]) for f in data.features])


def test_pair_classification_sets_token_types_of_the_second_text(tmp_path, tok):
    records = [{"premise": "All are equal.", "hypothesis": "Everyone is equal.", "label": "entailment"}]
    data = _load(tmp_path, records, "sequence_classification", text_column="premise",
                 text_pair_column="hypothesis")
    expected = tok("All are equal.", "Everyone is equal.", return_token_type_ids=True)
    np.testing.assert_array_equal(data.features[0]["input_ids"], expected["input_ids"])
    np.testing.assert_array_equal(data.features[0]["token_type_ids"], expected["token_type_ids"])
    assert 0 < data.features[0]["token_type_ids"].sum() < len(expected["input_ids"])


def test_truncation_keeps_at_most_max_length_tokens(tmp_path):
    records = [{"text": "Everyone has the right to life, liberty and security of person. " * 10, "label": "en"}]
    data = _load(tmp_path, records, "sequence_classification", max_length=16, buckets=[8, 16])
    assert len(data.features[0]["input_ids"]) == 16


def test_label_set_from_the_spec_and_integer_labels_as_indices(tmp_path):
    records = [{"text": "a b", "label": "pos"}, {"text": "c d", "label": 0}]
    data = _load(tmp_path, records, "sequence_classification", labels=["neg", "pos"])
    assert [f["labels"] for f in data.features] == [1, 0]


def test_eval_split_takes_the_label_set_of_the_train_file(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "x", "label": "b"}, {"text": "y", "label": "c"}])
    write_jsonl(tmp_path / "dev.jsonl", [{"text": "z", "label": "c"}])
    spec = {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "dev.jsonl")}
    data = load_task_dataset(spec, reference_tokenizer(), "eval", task="sequence_classification")
    assert data.label_names == ("b", "c") and data.features[0]["labels"] == 1


def test_label_outside_the_label_set_is_named_with_file_row_and_column(tmp_path):
    records = [{"text": "a", "label": "en"}, {"text": "b", "label": "xx"}]
    with pytest.raises(ValueError, match=r"train\.jsonl: row 2, column 'label': label 'xx' is not in the label "
                                         r"set \['en', 'fr'\]"):
        _load(tmp_path, records, "sequence_classification", labels=["en", "fr"])


def test_missing_column_is_named_with_the_columns_found_and_the_setting(tmp_path):
    records = [{"sentence": "a", "label": "en"}]
    with pytest.raises(ValueError, match=r"train\.jsonl: row 1 has no column 'text' .*columns found: "
                                         r"\['label', 'sentence'\]\); set data\.text_column"):
        _load(tmp_path, records, "sequence_classification")


def test_non_text_value_in_the_text_column_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"row 1, column 'text': expected text, got int 5"):
        _load(tmp_path, [{"text": 5, "label": "a"}], "sequence_classification")


def test_training_file_without_labels_is_an_error_but_an_eval_file_may_lack_them(tmp_path):
    with pytest.raises(ValueError, match=r"row 1 has no column 'label'"):
        _load(tmp_path, [{"text": "a"}], "sequence_classification", labels=["a"])
    data = _load(tmp_path, [{"text": "a"}], "sequence_classification", split="test", name="test.jsonl",
                 labels=["a"])
    assert not data.labeled and "labels" not in data.features[0]


def test_regression_targets_are_floats_and_bad_ones_are_named(tmp_path):
    data = _load(tmp_path, [{"text": "a", "label": "0.5"}, {"text": "b", "label": 2}], "sequence_classification",
                 regression=True)
    assert [f["labels"] for f in data.features] == [0.5, 2.0] and data.num_labels == 1
    with pytest.raises(ValueError, match=r"row 1, column 'label': regression target 'high' is not a number"):
        _load(tmp_path, [{"text": "a", "label": "high"}], "sequence_classification", regression=True)
    with pytest.raises(ValueError, match=r"regression target nan is not finite"):
        _load(tmp_path, [{"text": "a", "label": float("nan")}], "sequence_classification", regression=True)


def test_multiple_choice_pairs_the_context_with_every_choice(tmp_path, tok):
    records = [{"text": "Everyone has", "choices": ["the right to life.", "a cat.", "no name."], "label": 0},
               {"text": "No one shall", "choices": ["be held in slavery.", "sing.", "fly."], "label": 2}]
    data = _load(tmp_path, records, "multiple_choice")
    assert len(data.features[1]["input_ids"]) == 3 and data.features[1]["labels"] == 2
    expected = tok("No one shall", "sing.", return_token_type_ids=True)
    np.testing.assert_array_equal(data.features[1]["input_ids"][1], expected["input_ids"])
    np.testing.assert_array_equal(data.features[1]["token_type_ids"][1], expected["token_type_ids"])
    assert data.lengths[1] == max(len(ids) for ids in data.features[1]["input_ids"])


def test_multiple_choice_rows_with_different_choice_counts_or_bad_labels_are_named(tmp_path):
    records = [{"text": "a", "choices": ["x", "y"], "label": 0}, {"text": "b", "choices": ["x", "y", "z"], "label": 0}]
    with pytest.raises(ValueError, match=r"row 2, column 'choices': 3 choices, but row 1 has 2"):
        _load(tmp_path, records, "multiple_choice")
    with pytest.raises(ValueError, match=r"row 1, column 'label': label 5 is not in the label set \['0', '1'\]"):
        _load(tmp_path, [{"text": "a", "choices": ["x", "y"], "label": 5}], "multiple_choice")


def test_align_labels_puts_each_word_label_on_its_first_piece_only():
    # [CLS] John(2 pieces) lives(1) in(1) Paris(3 pieces) [SEP]
    word_ids = [None, 0, 0, 1, 2, 3, 3, 3, None]
    labels = align_labels_to_pieces(word_ids, [5, 0, 0, 7])
    np.testing.assert_array_equal(labels, [-100, 5, -100, 0, 0, 7, -100, -100, -100])


def test_token_classification_aligns_tags_to_word_pieces(tmp_path, tok):
    records = [{"tokens": ["John", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]}]
    data = _load(tmp_path, records, "token_classification")
    assert data.label_names == ("B-LOC", "B-PER", "O")
    encoding = tok(records[0]["tokens"], is_split_into_words=True, return_token_type_ids=True)
    np.testing.assert_array_equal(data.features[0]["input_ids"], encoding["input_ids"])
    expected = align_labels_to_pieces(encoding.word_ids(0), [1, 2, 2, 0])
    np.testing.assert_array_equal(data.features[0]["labels"], expected)
    labelled = data.features[0]["labels"][data.features[0]["labels"] != IGNORE_INDEX]
    np.testing.assert_array_equal(labelled, [1, 2, 2, 0])  # one label per word, in word order
    np.testing.assert_array_equal(data.features[0]["first_pieces"], expected != IGNORE_INDEX)


def test_token_classification_accepts_whitespace_separated_cells(tmp_path):
    (tmp_path / "train.tsv").write_text("tokens\ttags\nJohn lives\tB-PER O\n")
    data = load_task_dataset({"train": str(tmp_path / "train.tsv")}, reference_tokenizer(), "train",
                             task="token_classification")
    assert data.label_names == ("B-PER", "O")
    assert list(data.features[0]["labels"][data.features[0]["first_pieces"]]) == [0, 1]


def test_token_classification_word_and_tag_count_mismatch_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"row 1: 2 words in 'tokens' but 1 tags in 'tags'"):
        _load(tmp_path, [{"tokens": ["a", "b"], "tags": ["O"]}], "token_classification")


def test_token_classification_unknown_tag_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"row 1, column 'tags': label 'I-MISC' is not in the label set"):
        _load(tmp_path, [{"tokens": ["a"], "tags": ["I-MISC"]}], "token_classification", labels=["O", "B-PER"])


def test_language_modeling_features_are_the_tokenised_text(tmp_path, tok):
    data = _load(tmp_path, [{"text": "Everyone has the right to life."}], "masked_lm")
    np.testing.assert_array_equal(data.features[0]["input_ids"], tok("Everyone has the right to life.")["input_ids"])
    assert "labels" not in data.features[0]


def test_unknown_task_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"task is 'summarization'; allowed:"):
        _load(tmp_path, [{"text": "a"}], "summarization")
