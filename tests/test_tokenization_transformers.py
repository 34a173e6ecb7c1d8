"""Our tokenizers against transformers 5 (`AutoTokenizer`) loaded from the same directory.

transformers 5 follows the reference (transformers 4.x, spec §6) on ids, template, truncation,
overflow, offsets and decoding of our files; the places where it does not are pinned as
documented differences: no `token_type_ids` unless asked, unknown text -> id 2 instead of the
unk id, and a directory with only `sentencepiece.model` gets no `[CLS]`/`[SEP]` and a `[MASK]`
that keeps the space before it.
"""

from __future__ import annotations

import shutil

import pytest
from fixtures.tokenizer_models import fixture_lines, trained_model_dir

from rembert_jax import RemBertTokenizer, RemBertTokenizerFast

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def fast(model_dir):
    return RemBertTokenizerFast.from_pretrained(model_dir)


@pytest.fixture(scope="module", params=["fast", "slow"])
def saved(request, model_dir, tmp_path_factory):
    """(our tokenizer, transformers' AutoTokenizer over the directory our save_pretrained wrote)."""
    cls = RemBertTokenizerFast if request.param == "fast" else RemBertTokenizer
    ours = cls.from_pretrained(model_dir)
    directory = tmp_path_factory.mktemp(f"saved_{request.param}")
    ours.save_pretrained(directory)
    return ours, transformers.AutoTokenizer.from_pretrained(str(directory))


def _known_texts(tokenizer):
    """Fixture lines without unknown characters (where transformers 5 maps to another id)."""
    return [t for t in fixture_lines() if tokenizer.unk_token_id not in tokenizer(t)["input_ids"]]


def test_auto_tokenizer_loads_our_saved_directory_as_rembert(saved):
    ours, theirs = saved
    assert type(theirs).__name__ == "RemBertTokenizer"
    assert set(theirs.all_special_tokens) == set(ours.all_special_tokens)
    assert (theirs.cls_token_id, theirs.sep_token_id, theirs.pad_token_id, theirs.mask_token_id) == (
        ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id)


def test_saved_directory_round_trips_to_the_same_ids(saved):
    ours, theirs = saved
    texts = _known_texts(ours)
    assert len(texts) > 60
    assert theirs(texts)["input_ids"] == ours(texts)["input_ids"]
    pairs = (texts[:30:2], texts[1:30:2])
    ours_pairs = ours(*pairs, padding=True)
    theirs_pairs = theirs(*pairs, padding=True, return_token_type_ids=True)
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        assert theirs_pairs[key] == ours_pairs[key], key
    assert theirs("hello [MASK] world")["input_ids"] == ours("hello [MASK] world")["input_ids"]


def test_decodes_match_transformers(saved):
    ours, theirs = saved
    ids = ours(_known_texts(ours))["input_ids"]
    assert theirs.batch_decode(ids, skip_special_tokens=True) == ours.batch_decode(ids, skip_special_tokens=True)


def test_fast_truncation_overflow_offsets_and_word_ids_match_transformers(fast, tmp_path):
    lines = _known_texts(fast)
    fast.save_pretrained(tmp_path)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    questions, contexts = sorted(lines, key=len)[:6], lines[:6]
    common = {"return_offsets_mapping": True, "return_special_tokens_mask": True, "return_token_type_ids": True}
    for kwargs in (
        {"truncation": True, "max_length": 20},
        {"max_length": 10},  # max_length alone truncates
        {"truncation": "longest_first", "max_length": 30},
        {"truncation": "only_second", "max_length": 40, "stride": 5, "return_overflowing_tokens": True},
        {"truncation": "only_first", "max_length": 60},
        {"padding": "max_length", "max_length": 96, "pad_to_multiple_of": 32},
    ):
        pair = "only" in str(kwargs.get("truncation")) or kwargs.get("truncation") == "longest_first"
        args = (questions, contexts) if pair else (lines[:12],)
        if kwargs.get("truncation") == "only_first":
            args = (contexts, questions)
        ours_batch, theirs_batch = fast(*args, **kwargs, **common), theirs(*args, **kwargs, **common)
        for key, value in ours_batch.items():
            expected = theirs_batch[key]
            if key == "offset_mapping":
                expected = [[tuple(o) for o in row] for row in expected]
            assert value == expected, (kwargs, key)
        for i in range(len(ours_batch["input_ids"])):
            assert ours_batch.word_ids(i) == theirs_batch.word_ids(i)
            assert ours_batch.sequence_ids(i) == theirs_batch.sequence_ids(i)


def test_pre_split_words_match_transformers(saved):
    ours, theirs = saved
    words = [line.split() for line in _known_texts(ours)[:15]]
    ours_batch = ours(words, is_split_into_words=True)
    theirs_batch = theirs(words, is_split_into_words=True, return_token_type_ids=True)
    assert ours_batch["input_ids"] == theirs_batch["input_ids"]
    assert [ours_batch.word_ids(i) for i in range(15)] == [theirs_batch.word_ids(i) for i in range(15)]


# ---- documented differences from transformers 5 ----------------------------------------------


def test_transformers5_returns_token_type_ids_only_when_asked(saved):
    ours, theirs = saved
    assert "token_type_ids" in ours("a", "b")
    assert "token_type_ids" not in theirs("a", "b")
    assert theirs("a", "b", return_token_type_ids=True)["token_type_ids"] == ours("a", "b")["token_type_ids"]


def test_transformers5_maps_unknown_text_to_id_2_not_the_unk_id(saved):
    ours, theirs = saved
    text = "snow ☃ man"
    ours_ids, theirs_ids = ours(text)["input_ids"], theirs(text)["input_ids"]
    position = ours_ids.index(ours.unk_token_id)
    assert ours.unk_token_id == 1 and theirs_ids[position] == 2
    assert ours_ids[:position] + ours_ids[position + 1:] == theirs_ids[:position] + theirs_ids[position + 1:]


def test_transformers5_from_sentencepiece_alone_adds_no_special_tokens_and_keeps_space_before_mask(
    model_dir, tmp_path, fast
):
    shutil.copy(model_dir / "sentencepiece.model", tmp_path / "sentencepiece.model")
    ours = RemBertTokenizerFast.from_pretrained(tmp_path)
    theirs = transformers.RemBertTokenizer.from_pretrained(str(tmp_path))
    text = fixture_lines()[0]
    assert theirs(text)["input_ids"] == ours(text)["input_ids"][1:-1]  # no [CLS]/[SEP] in transformers 5
    ours_mask = ours.tokenize("hello [MASK] world")
    theirs_mask = theirs.tokenize("hello [MASK] world")
    assert theirs_mask == ours_mask[:ours_mask.index("[MASK]")] + ["▁"] + ours_mask[ours_mask.index("[MASK]"):]
