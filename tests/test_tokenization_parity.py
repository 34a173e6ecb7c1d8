"""RemBertTokenizer (sentencepiece) vs RemBertTokenizerFast (tokenizers) on the multilingual fixture.

They agree on ids, token types, special-token masks and decodes, except for the differences the
reference pipeline has (spec §6.4/§6.5), each pinned by its own test below.
"""

from __future__ import annotations

import json
import unicodedata

import pytest
from fixtures.tokenizer_models import fixture_lines, trained_model_dir

from rembert_jax import RemBertTokenizer, RemBertTokenizerFast
from rembert_jax.tokenization._files import TOKENIZER_FILE

# Human-like odd spacing that both tokenizers handle alike.
ODD_SPACING_SAME = [
    "  two leading spaces", "double  space inside", "tab\tinside", "line\nbreak inside",
    "non\u00a0breaking space", "full-width ＡＢＣ１２３ and ligature ﬁne", "zero\u200bwidth joiner",
    "hello [MASK] world", "hello[MASK]world", "[CLS] written at the start", "", "emoji 👩‍👩‍👧 family",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def slow(model_dir):
    return RemBertTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def fast(model_dir):
    return RemBertTokenizerFast.from_pretrained(model_dir)


def _texts_without_quote_pairs():
    return [t for t in fixture_lines() + ODD_SPACING_SAME if "``" not in t and "''" not in t]


def test_single_texts_give_identical_ids_types_and_special_masks(slow, fast):
    texts = _texts_without_quote_pairs()
    kwargs = {"return_special_tokens_mask": True}
    assert dict(slow(texts, **kwargs)) == dict(fast(texts, **kwargs))


def test_text_pairs_give_identical_ids_types_and_special_masks(slow, fast):
    lines = fixture_lines()
    firsts, seconds = lines[::2], lines[1::2]
    kwargs = {"return_special_tokens_mask": True, "padding": True}
    slow_batch, fast_batch = slow(firsts, seconds, **kwargs), fast(firsts, seconds, **kwargs)
    assert dict(slow_batch) == dict(fast_batch)
    assert set(slow_batch["token_type_ids"][0]) == {0, 1}


def test_decodes_are_identical_with_and_without_special_tokens(slow, fast):
    texts = [t for t in fixture_lines() if "``" not in t and "''" not in t]
    ids = fast(texts)["input_ids"]
    unk, space = fast.unk_token_id, fast.convert_tokens_to_ids("▁")
    with_unknown = [row for row in ids if unk in row]
    assert 0 < len(with_unknown) < 15
    for row, slow_text, fast_text in zip(ids, slow.batch_decode(ids, skip_special_tokens=True),
                                         fast.batch_decode(ids, skip_special_tokens=True), strict=True):
        if row[1:3] == [space, unk] and fast.convert_ids_to_tokens(row[3]).startswith("▁"):
            # the text starts with a wholly unknown word: the fast decoder keeps the next word's space
            assert fast_text == " " + slow_text
        else:
            assert fast_text == slow_text
    # without skipping, unknown ids decode differently (pinned below)
    known = [row for row in ids if unk not in row]
    assert slow.batch_decode(known) == fast.batch_decode(known)
    assert fast.decode(ids[0], skip_special_tokens=True) == texts[0]


def test_pre_split_words_give_identical_ids_and_word_ids(slow, fast):
    words = [line.split() for line in fixture_lines()[:20]]
    slow_batch, fast_batch = slow(words, is_split_into_words=True), fast(words, is_split_into_words=True)
    assert dict(slow_batch) == dict(fast_batch)
    for i in range(len(words)):
        assert slow_batch.word_ids(i) == fast_batch.word_ids(i)


def test_overflow_windows_are_identical(slow, fast):
    lines = fixture_lines()
    kwargs = {"truncation": True, "max_length": 12, "stride": 3, "return_overflowing_tokens": True,
              "padding": True, "return_special_tokens_mask": True}
    assert dict(slow(lines[:10], **kwargs)) == dict(fast(lines[:10], **kwargs))
    questions = sorted(lines, key=len)[:5]
    kwargs["truncation"] = "only_second"
    kwargs["max_length"] = 40
    slow_batch, fast_batch = slow(questions, lines[:5], **kwargs), fast(questions, lines[:5], **kwargs)
    assert dict(slow_batch) == dict(fast_batch)
    assert len(slow_batch["input_ids"]) > 10


def test_single_text_truncation_is_identical(slow, fast):
    lines = fixture_lines()
    for side in ("right", "left"):
        s = RemBertTokenizer.from_pretrained(slow.name_or_path, truncation_side=side)
        f = RemBertTokenizerFast.from_pretrained(fast.name_or_path, truncation_side=side)
        assert dict(s(lines, truncation=True, max_length=9)) == dict(f(lines, truncation=True, max_length=9))


def test_fast_from_sentencepiece_alone_equals_fast_from_tokenizer_json(model_dir, tmp_path, fast):
    (tmp_path / "spm").mkdir()
    (tmp_path / "spm" / "sentencepiece.model").write_bytes((model_dir / "sentencepiece.model").read_bytes())
    from_spm = RemBertTokenizerFast.from_pretrained(tmp_path / "spm")
    fast.save_pretrained(tmp_path / "saved")
    (tmp_path / "saved" / "sentencepiece.model").unlink()  # only tokenizer.json + JSON configs remain
    from_json = RemBertTokenizerFast.from_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / TOKENIZER_FILE).is_file()
    texts = fixture_lines() + ODD_SPACING_SAME + ["He said ``hi'' twice"]
    kwargs = {"return_special_tokens_mask": True, "return_offsets_mapping": True}
    assert dict(from_spm(texts, **kwargs)) == dict(from_json(texts, **kwargs))
    spm_json, file_json = (json.loads(t.backend_tokenizer.to_str()) for t in (from_spm, from_json))
    for part in ("normalizer", "pre_tokenizer", "post_processor", "decoder", "added_tokens"):
        assert spm_json[part] == file_json[part]
    ids = from_spm(texts)["input_ids"]
    assert from_spm.batch_decode(ids, skip_special_tokens=True) == from_json.batch_decode(ids, skip_special_tokens=True)


# ---- the documented differences (inherited from the reference pipeline) ----------------------


def test_fast_normalizes_double_quotes_where_sentencepiece_does_not(slow, fast):
    lines = [t for t in fixture_lines() if "``" in t or "''" in t] + ["He said ``hi'' to me", "it''s"]
    for text in lines:
        assert slow(text)["input_ids"] != fast(text)["input_ids"]
        normalized = text.replace("``", '"').replace("''", '"')
        assert fast(text)["input_ids"] == slow(normalized)["input_ids"]


@pytest.mark.parametrize("text", ["trailing space ", "ends with a newline\n", "\t\ttab indented",
                                  "space before [SEP] token"])
def test_fast_keeps_a_space_token_where_sentencepiece_trims(slow, fast, text):
    slow_tokens, fast_tokens = slow.tokenize(text), fast.tokenize(text)
    assert fast_tokens != slow_tokens
    assert [t for t in fast_tokens if t != "▁"] == [t for t in slow_tokens if t != "▁"]
    assert fast_tokens.count("▁") == slow_tokens.count("▁") + 1


def test_decode_of_unknown_and_pad_ids_differs_when_special_tokens_are_kept(slow, fast):
    ids = fast("snow ☃ man", padding="max_length", max_length=12)["input_ids"]
    assert fast.unk_token_id in ids and fast.pad_token_id in ids
    assert slow.decode(ids) == "[CLS] snow  ⁇  man[SEP]"  # sentencepiece: unk surface, control pieces dropped
    assert fast.decode(ids).startswith("[CLS] snow [UNK] man[SEP][PAD]")
    assert slow.decode(ids, skip_special_tokens=True) == fast.decode(ids, skip_special_tokens=True)


def test_longest_first_pair_truncation_order_differs(slow, fast):
    first, second = "one two three four five six seven eight nine ten", "eleven twelve thirteen"
    a, b = len(slow.tokenize(first)), len(slow.tokenize(second))
    max_length = a + b + 3 - 5
    slow_ids = slow(first, second, truncation=True, max_length=max_length)["input_ids"]
    fast_ids = fast(first, second, truncation=True, max_length=max_length)["input_ids"]
    assert len(slow_ids) == len(fast_ids) == max_length
    # transformers 4.x slow: remove from the longer text until the lengths meet, then alternate.
    ids_a, ids_b = slow.encode(first, add_special_tokens=False), slow.encode(second, add_special_tokens=False)
    assert slow_ids == slow.build_inputs_with_special_tokens(ids_a[:-5], ids_b)


def test_encode_decode_round_trips_to_the_nfkc_text(slow, fast):
    # the trained model's normaliser is sentencepiece's nmt_nfkc: full-width punctuation becomes ASCII
    texts = [t for t in fixture_lines() if "``" not in t and "''" not in t]
    for tok in (slow, fast):
        rows = [row for row in tok(texts)["input_ids"]]
        known = [(text, row) for text, row in zip(texts, rows, strict=True) if tok.unk_token_id not in row]
        assert len(known) > 90
        for text, row in known:
            assert tok.decode(row, skip_special_tokens=True) == unicodedata.normalize("NFKC", text)
