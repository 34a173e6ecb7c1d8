"""Every model preset has a tokenizer the user loads by the preset's name."""

from __future__ import annotations

import os

import pytest
from fixtures.tokenizer_models import word_model_dir

from rembert_jax import RemBertConfig, RemBertTokenizer, RemBertTokenizerFast
from rembert_jax.config import preset_names
from rembert_jax.tokenization._presets import HUB, SHIPPED

CLASSES = [RemBertTokenizer, RemBertTokenizerFast]
SENTENCES = ["All human beings are born free and equal in dignity and rights.",
             "Все люди рождаются свободными и равными в своем достоинстве и правах.",
             "人人生而自由，在尊严和权利上一律平等。"]


def test_every_preset_has_a_tokenizer():
    assert set(preset_names()) == set(SHIPPED) | set(HUB)


@pytest.mark.parametrize("cls", CLASSES)
def test_the_tiny_preset_and_its_tokenizer_agree_on_vocabulary_special_ids_and_length(cls):
    config = RemBertConfig.from_preset("tiny")
    tokenizer = cls.from_preset("tiny")
    assert len(tokenizer) == tokenizer.vocab_size == config.vocab_size
    assert (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id) == (
        config.pad_token_id, config.bos_token_id, config.eos_token_id)
    assert tokenizer.model_max_length == config.max_position_embeddings
    ids = tokenizer(SENTENCES, padding=True)["input_ids"]
    assert max(max(row) for row in ids) < config.vocab_size
    # multilingual pieces, not a byte fallback: each sentence is mostly known pieces
    for row in ids:
        assert row.count(tokenizer.unk_token_id) <= 1


def test_a_preset_name_loads_through_from_pretrained_with_both_classes():
    fast, slow = RemBertTokenizerFast.from_pretrained("tiny"), RemBertTokenizer.from_pretrained("tiny")
    expected = RemBertTokenizerFast.from_preset("tiny")(SENTENCES)["input_ids"]
    assert fast(SENTENCES)["input_ids"] == slow(SENTENCES)["input_ids"] == expected
    assert RemBertTokenizerFast.from_pretrained("tiny", model_max_length=16).model_max_length == 16


def test_the_tiny_tokenizer_is_the_demo_datasets_so_the_demo_data_encodes_alike():
    import rembert_jax.configs
    import rembert_jax.train

    shipped = os.path.join(os.path.dirname(rembert_jax.configs.__file__), SHIPPED["tiny"], "sentencepiece.model")
    demo = os.path.join(os.path.dirname(rembert_jax.train.__file__), "demo", "sentencepiece.model")
    with open(shipped, "rb") as a, open(demo, "rb") as b:
        assert a.read() == b.read()


def test_a_local_directory_named_like_a_preset_wins(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(word_model_dir(tmp_path), tmp_path / "tiny")
    monkeypatch.chdir(tmp_path)
    assert len(RemBertTokenizerFast.from_pretrained("tiny")) != RemBertConfig.from_preset("tiny").vocab_size


def test_the_rembert_preset_says_its_tokenizer_comes_from_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no local google/rembert folder; conftest keeps the Hub offline
    with pytest.raises(FileNotFoundError, match=r"'rembert' preset's tokenizer is google/rembert's, which comes "
                                                r"from the Hugging Face Hub and is not available here"):
        RemBertTokenizerFast.from_preset("rembert")


def test_an_unknown_preset_is_an_error_listing_the_presets():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; available: rembert, tiny"):
        RemBertTokenizerFast.from_preset("huge")

