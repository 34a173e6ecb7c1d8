"""The tokenizer call surface, against expectations computed by hand on a word-level model.

In the word model every listed word is one piece `▁word` (ids in WORD_IDS): `[PAD]`=0,
`[UNK]`=1, `[CLS]`=2, `[SEP]`=3, `[MASK]`=4, `▁`=5, the=6, cat=7, sat=8, on=9, mat=10, a=11,
dog=12, ran=13, in=14, park=15, new=16, york=17, is=18, big=19.
"""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.tokenizer_models import WORD_IDS, WORDS, word_model_dir

from rembert_jax import RemBertTokenizer, RemBertTokenizerFast

CLS, SEP, PAD = 2, 3, 0
W = WORD_IDS


def ids(text: str) -> list[int]:
    return [W[w] for w in text.split()]


@pytest.fixture(scope="module", params=["slow", "fast"])
def tok(request, tmp_path_factory):
    directory = word_model_dir(tmp_path_factory.getbasetemp())
    cls = RemBertTokenizer if request.param == "slow" else RemBertTokenizerFast
    return cls.from_pretrained(directory)


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    return RemBertTokenizerFast.from_pretrained(word_model_dir(tmp_path_factory.getbasetemp()))


def test_single_text_is_framed_by_cls_and_sep(tok):
    out = tok("the cat sat on the mat")
    assert out["input_ids"] == [CLS, *ids("the cat sat on the mat"), SEP]
    assert out["token_type_ids"] == [0] * 8
    assert out["attention_mask"] == [1] * 8
    assert list(out) == ["input_ids", "token_type_ids", "attention_mask"]


def test_pair_gets_type_one_for_the_second_text(tok):
    out = tok("the cat", "a dog ran", return_special_tokens_mask=True)
    assert out["input_ids"] == [CLS, 6, 7, SEP, 11, 12, 13, SEP]
    assert out["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert out["special_tokens_mask"] == [1, 0, 0, 1, 0, 0, 0, 1]


def test_batch_of_tuples_is_a_batch_of_pairs(tok):
    assert tok([("the cat", "a dog")])["input_ids"] == [[CLS, 6, 7, SEP, 11, 12, SEP]]


def test_padding_longest_max_length_multiple_and_left(tok):
    texts = ["the cat", "a dog ran in the park"]
    longest = tok(texts, padding=True)
    assert longest["input_ids"] == [[CLS, 6, 7, SEP, PAD, PAD, PAD, PAD], [CLS, *ids("a dog ran in the park"), SEP]]
    assert longest["attention_mask"][0] == [1, 1, 1, 1, 0, 0, 0, 0]
    assert longest["token_type_ids"][0] == [0] * 8
    assert tok(texts, padding="longest") == longest
    assert tok(texts, padding="max_length", max_length=10)["input_ids"][0] == [CLS, 6, 7, SEP] + [PAD] * 6
    assert len(tok(texts, padding=True, pad_to_multiple_of=5)["input_ids"][0]) == 10
    left = tok(texts, padding=True, padding_side="left", return_special_tokens_mask=True)
    assert left["input_ids"][0] == [PAD] * 4 + [CLS, 6, 7, SEP]
    assert left["special_tokens_mask"][0] == [1] * 5 + [0, 0, 1]
    assert tok(texts, padding=False)["input_ids"][0] == [CLS, 6, 7, SEP]


def test_truncation_strategies(tok):
    assert tok("the cat sat on the mat", truncation=True, max_length=5)["input_ids"] == [CLS, 6, 7, 8, SEP]
    first, second = "the cat sat", "a dog ran in the park"
    assert tok(first, second, truncation="only_second", max_length=8)["input_ids"] == [
        CLS, 6, 7, 8, SEP, 11, 12, SEP]
    assert tok(second, first, truncation="only_first", max_length=8)["input_ids"] == [
        CLS, 11, 12, SEP, 6, 7, 8, SEP]
    # longest_first, 3 to remove from (3, 6) tokens: all from the longer second text.
    assert tok(first, second, truncation="longest_first", max_length=9)["input_ids"] == [
        CLS, 6, 7, 8, SEP, 11, 12, 13, SEP]
    assert tok("the cat", truncation=True, max_length=10)["input_ids"] == [CLS, 6, 7, SEP]
    # as in transformers, max_length without padding or truncation means longest_first truncation
    assert tok("the cat sat on the mat", max_length=4)["input_ids"] == [CLS, 6, 7, SEP]
    assert tok("the cat sat", max_length=4, truncation=False)["input_ids"] == [CLS, 6, 7, 8, SEP]


def test_truncation_without_max_length_uses_model_max_length(tmp_path_factory):
    directory = word_model_dir(tmp_path_factory.getbasetemp())
    for cls in (RemBertTokenizer, RemBertTokenizerFast):
        tok = cls.from_pretrained(directory, model_max_length=4)
        assert tok("the cat sat on", truncation=True)["input_ids"] == [CLS, 6, 7, SEP]
        assert tok("the", padding="max_length")["input_ids"] == [CLS, 6, SEP, PAD]


def test_overflow_with_stride_gives_overlapping_windows(tok):
    # 6 tokens, 4 per window (max_length 6 minus [CLS]/[SEP]), 2 shared: windows [0:4], [2:6].
    out = tok(["the cat sat on the mat", "a dog"], truncation=True, max_length=6, stride=2,
              return_overflowing_tokens=True)
    assert out["input_ids"] == [[CLS, 6, 7, 8, 9, SEP], [CLS, 8, 9, 6, 10, SEP], [CLS, 11, 12, SEP]]
    assert out["overflow_to_sample_mapping"] == [0, 0, 1]
    single = tok("the cat sat on the mat", truncation=True, max_length=5, stride=1, return_overflowing_tokens=True)
    # 3 per window, step 2: [0:3], [2:5], [4:6]; a single text keeps its batch axis with overflow
    assert single["input_ids"] == [[CLS, 6, 7, 8, SEP], [CLS, 8, 9, 6, SEP], [CLS, 6, 10, SEP]]


def test_question_answering_windows_over_the_context(tok):
    question, context = "the cat", "the dog ran in the park"
    # 10 - 2 question tokens - 3 specials = 5 context tokens per window, stride 2: [0:5], [3:6]
    out = tok(question, context, truncation="only_second", max_length=10, stride=2,
              return_overflowing_tokens=True, padding=True)
    assert out["input_ids"] == [[CLS, 6, 7, SEP, 6, 12, 13, 14, 6, SEP], [CLS, 6, 7, SEP, 14, 6, 15, SEP, PAD, PAD]]
    assert out["token_type_ids"][1] == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    assert out["attention_mask"][1] == [1] * 8 + [0, 0]
    assert out.sequence_ids(1) == [None, 0, 0, None, 1, 1, 1, None, None, None]
    assert out["overflow_to_sample_mapping"] == [0, 0]


def test_offsets_and_word_ids_of_the_fast_tokenizer(fast):
    out = fast("the cat sat", "a dog", return_offsets_mapping=True)
    # Metaspace gives the space before a word to the word's first token (as transformers does)
    assert out["offset_mapping"] == [(0, 0), (0, 3), (3, 7), (7, 11), (0, 0), (0, 1), (1, 5), (0, 0)]
    assert out.word_ids() == [None, 0, 1, 2, None, 0, 1, None]
    assert out.sequence_ids() == [None, 0, 0, 0, None, 1, 1, None]
    d, o, g = fast.convert_tokens_to_ids(["d", "o", "g"])
    spelled = fast("the catdog", return_offsets_mapping=True)
    assert spelled["input_ids"] == [CLS, 6, 7, d, o, g, SEP]
    assert spelled.word_ids() == [None, 0, 1, 1, 1, 1, None]
    assert spelled["offset_mapping"][2:6] == [(3, 7), (7, 8), (8, 9), (9, 10)]
    padded = fast(["the", "the cat sat"], padding=True)
    assert padded.word_ids(0) == [None, 0, None, None, None]


def test_pre_split_words_and_word_ids(tok):
    out = tok([["new", "york", "is", "big"], ["the", "catdog"]], is_split_into_words=True, padding=True)
    assert out["input_ids"][0] == [CLS, 16, 17, 18, 19, SEP, PAD]
    assert out.word_ids(0) == [None, 0, 1, 2, 3, None, None]
    assert out.word_ids(1) == [None, 0, 1, 1, 1, 1, None]  # [CLS] ▁the ▁cat d o g [SEP]
    single = tok(["the", "mat"], is_split_into_words=True)
    assert single["input_ids"] == [CLS, 6, 10, SEP] and single.word_ids() == [None, 0, 1, None]


def test_return_flags(tok):
    out = tok(["the cat", "a"], return_token_type_ids=False, return_attention_mask=False, return_length=True)
    assert set(out) == {"input_ids", "length"}
    assert out["length"] == [4, 3]
    assert tok.encode("the cat") == [CLS, 6, 7, SEP]
    assert tok.encode("the cat", add_special_tokens=False) == [6, 7]
    assert tok("the cat", add_special_tokens=False)["token_type_ids"] == [0, 0]


@pytest.mark.parametrize("framework", ["np", "jax", "pt", "tf"])
def test_return_tensors(tok, framework):
    if framework == "pt":
        pytest.importorskip("torch")
    if framework == "tf":
        pytest.importorskip("tensorflow")
    out = tok(["the cat", "a dog ran"], padding=True, return_tensors=framework)
    assert tuple(out["input_ids"].shape) == (2, 5)
    assert np.asarray(out["input_ids"]).tolist()[0] == [CLS, 6, 7, SEP, PAD]
    single = tok("the cat", return_tensors=framework)
    assert tuple(single["attention_mask"].shape) == (1, 4)
    assert tuple(tok.encode("the cat", return_tensors=framework).shape) == (1, 4)
    if framework == "np":
        assert out["input_ids"].dtype == np.int64


@pytest.mark.parametrize(("framework", "module", "name"), [("pt", "torch", "PyTorch"), ("tf", "tensorflow", "TensorFlow")])
def test_missing_framework_for_return_tensors_is_a_clear_error(tok, monkeypatch, framework, module, name):
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail as if not installed
    with pytest.raises(ImportError, match=rf"return_tensors='{framework}' needs {name}.*pip install"):
        tok("the cat", return_tensors=framework)


def test_decode_tokenize_and_conversions(tok):
    row = tok("the cat", "a dog", padding="max_length", max_length=9)["input_ids"]
    assert tok.decode(row, skip_special_tokens=True) == "the cat a dog"
    assert tok.batch_decode(np.asarray([row, row]), skip_special_tokens=True) == ["the cat a dog"] * 2
    assert tok.decode(np.asarray([6, 7])) == "the cat"
    assert tok.tokenize("the cat") == ["▁the", "▁cat"]
    assert tok.tokenize("the [MASK] cat") == ["▁the", "[MASK]", "▁cat"]  # [MASK] absorbs the space before it
    assert tok.encode("the [MASK]") == [CLS, 6, 4, SEP]
    assert tok.convert_tokens_to_ids(["▁the", "[MASK]", "not-a-piece"]) == [6, 4, 1]
    assert tok.convert_tokens_to_ids("▁cat") == 7
    assert tok.convert_ids_to_tokens([2, 6, 3]) == ["[CLS]", "▁the", "[SEP]"]
    assert tok.convert_ids_to_tokens([2, 6, 3], skip_special_tokens=True) == ["▁the"]
    assert tok.convert_ids_to_tokens(7) == "▁cat"
    assert tok.convert_tokens_to_string(["▁the", "▁cat"]) == "the cat"
    assert tok.decode(tok.encode("the dog ran .")) == "[CLS] the dog ran .[SEP]"
    assert tok.decode(tok.encode("the dog ran ."), clean_up_tokenization_spaces=True) == "[CLS] the dog ran.[SEP]"


def test_special_token_layout_helpers(tok):
    assert tok.build_inputs_with_special_tokens([6, 7]) == [CLS, 6, 7, SEP]
    assert tok.build_inputs_with_special_tokens([6], [7, 8]) == [CLS, 6, SEP, 7, 8, SEP]
    assert tok.get_special_tokens_mask([6, 7]) == [1, 0, 0, 1]
    assert tok.get_special_tokens_mask([6], [7, 8]) == [1, 0, 1, 0, 0, 1]
    assert tok.get_special_tokens_mask([CLS, 6, SEP, PAD], already_has_special_tokens=True) == [1, 0, 1, 0]
    assert tok.create_token_type_ids_from_sequences([6, 7]) == [0, 0, 0, 0]
    assert tok.create_token_type_ids_from_sequences([6], [7, 8]) == [0, 0, 0, 1, 1, 1]
    assert tok.num_special_tokens_to_add() == 2 and tok.num_special_tokens_to_add(pair=True) == 3
    with pytest.raises(ValueError, match="token_ids_1 must be None"):
        tok.get_special_tokens_mask([6], [7], already_has_special_tokens=True)


def test_special_tokens_and_vocabulary(tok):
    assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.unk_token, tok.mask_token) == (
        "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")
    assert (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.unk_token_id, tok.mask_token_id) == (
        2, 3, 0, 1, 4)
    assert (tok.bos_token_id, tok.eos_token_id) == (2, 3)
    assert tok.all_special_ids == [2, 3, 1, 0, 4]
    assert tok.special_tokens_map["mask_token"] == "[MASK]"
    vocab = tok.get_vocab()
    # 5 special pieces, "▁", one "▁word" per word, one piece per character of the words
    assert tok.vocab_size == len(tok) == len(vocab) == 6 + len(WORDS) + len(set("".join(WORDS)))
    assert vocab["▁cat"] == 7
    assert tok.get_added_vocab() == {"[CLS]": 2, "[SEP]": 3, "[UNK]": 1, "[PAD]": 0, "[MASK]": 4}
    assert tok.model_max_length == int(1e30)


def test_special_token_missing_from_the_model_is_added_after_it(tmp_path_factory):
    directory = word_model_dir(tmp_path_factory.getbasetemp())
    for cls in (RemBertTokenizer, RemBertTokenizerFast):
        tok = cls.from_pretrained(directory, additional_special_tokens=["[NEW]"])
        new_id = tok.vocab_size
        assert tok.convert_tokens_to_ids("[NEW]") == new_id and len(tok) == new_id + 1
        # no space before [NEW]: unlike [MASK] it does not absorb one (the fast pipeline would keep a ▁)
        assert tok("the[NEW] cat")["input_ids"] == [CLS, 6, new_id, 7, SEP]
        assert tok.decode([6, new_id, 7]) == "the[NEW] cat"
        assert tok.decode([6, new_id, 7], skip_special_tokens=True) == "the cat"


def test_pad_collates_feature_dicts(tok):
    features = [tok("the cat"), tok("a dog ran in")]
    features[0]["labels"] = 1
    features[1]["labels"] = 0
    batch = tok.pad(features, return_tensors="np")
    assert batch["input_ids"].tolist() == [[CLS, 6, 7, SEP, PAD, PAD], [CLS, 11, 12, 13, 14, SEP]]
    assert batch["attention_mask"].tolist()[0] == [1, 1, 1, 1, 0, 0]
    assert batch["token_type_ids"].tolist()[0] == [0] * 6
    assert batch["labels"].tolist() == [1, 0]
    no_mask = [{"input_ids": [CLS, 6, SEP]}, {"input_ids": [CLS, SEP]}]
    padded = tok.pad(no_mask, padding="max_length", max_length=4, padding_side="left")
    assert padded["input_ids"] == [[PAD, CLS, 6, SEP], [PAD, PAD, CLS, SEP]]
    assert padded["attention_mask"] == [[0, 1, 1, 1], [0, 0, 1, 1]]
    assert tok.pad({"input_ids": [CLS, SEP]}, padding="max_length", max_length=3)["input_ids"] == [CLS, SEP, PAD]


def test_pad_leaves_the_callers_encoding_unchanged(tok):
    encoded = tok(["the cat", "a dog ran in"])
    rows = [list(row) for row in encoded["input_ids"]]
    padded = tok.pad(encoded)
    assert padded["input_ids"][0] == [CLS, 6, 7, SEP, PAD, PAD]
    assert encoded["input_ids"] == rows  # as transformers: pad returns new rows, the input keeps its own


# ---- bad input -------------------------------------------------------------------------------


def test_non_string_input_is_rejected(tok):
    with pytest.raises(ValueError, match="text must be"):
        tok(42)
    with pytest.raises(ValueError, match=r"text\[1\] must be a str, got int"):
        tok(["fine", 7])
    with pytest.raises(ValueError, match="text_pair must be a str"):
        tok("fine", 3.5)
    with pytest.raises(ValueError, match="text is required"):
        tok(None)
    with pytest.raises(ValueError, match=r"text_pair must be a list with one entry per text \(2\)"):
        tok(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="list of str words with is_split_into_words=True"):
        tok([["the", 3]], is_split_into_words=True)


def test_unknown_padding_truncation_and_tensor_values_are_rejected(tok):
    with pytest.raises(ValueError, match=r"padding must be True, False or one of \('longest', 'max_length'"):
        tok("the", padding="longer")
    with pytest.raises(ValueError, match=r"truncation must be True, False or one of \('longest_first'"):
        tok("the", truncation="only_third")
    with pytest.raises(ValueError, match=r"return_tensors must be one of \('np', 'jax', 'pt', 'tf'\)"):
        tok("the", return_tensors="mx")
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        tok("the", truncation=True, max_length=0)
    with pytest.raises(ValueError, match="padding='max_length' needs max_length"):
        tok("the", padding="max_length")
    with pytest.raises(ValueError, match="sequences have different lengths. Pass padding=True"):
        tok(["the", "the cat"], return_tensors="np")
    with pytest.raises(ValueError, match="padding_side must be 'right' or 'left'"):
        tok("the", padding=True, padding_side="top")


def test_pair_that_truncation_cannot_fit_is_rejected(tok):
    long_question, short_context = "the cat sat on the mat", "a dog"
    with pytest.raises(ValueError, match=r"truncation='only_second' cannot fit example 0 into max_length=6"):
        tok(long_question, short_context, truncation="only_second", max_length=6)
    with pytest.raises(ValueError, match=r"truncation='only_first' cannot fit example 1 into max_length=6"):
        tok([long_question, "a"], ["a", long_question], truncation="only_first", max_length=6)
    with pytest.raises(ValueError, match="max_length=2 leaves no room for text after the 2 special tokens"):
        tok("the cat", truncation=True, max_length=2)
    with pytest.raises(ValueError, match="only_second' needs a text pair"):
        tok("the cat", truncation="only_second", max_length=3)


def test_stride_that_does_not_fit_the_window_is_rejected(tok):
    with pytest.raises(ValueError, match=r"stride=4 must be smaller than max_length minus the special tokens \(4\)"):
        tok("the cat sat on the mat", truncation=True, max_length=6, stride=4, return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="cannot fit example 0 into max_length=9"):
        # question 2 + 3 specials leave 4 context tokens per window; stride 4 cannot advance
        tok("the cat", "the dog ran in the park", truncation="only_second", max_length=9, stride=4,
            return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="needs truncation='only_first' or 'only_second'"):
        tok("the cat", "a dog", truncation=True, max_length=5, return_overflowing_tokens=True)


def test_decode_of_ids_outside_the_vocabulary_is_rejected(tok):
    with pytest.raises(ValueError, match=rf"token_ids holds id {len(tok)}, outside the vocabulary \[0, {len(tok)}\)"):
        tok.decode([6, len(tok)])
    with pytest.raises(ValueError, match="token_ids must be one sequence of int token ids"):
        tok.decode([[6, 7]])


def test_sentencepiece_tokenizer_has_no_offsets_or_raw_text_word_ids(tmp_path_factory):
    tok = RemBertTokenizer.from_pretrained(word_model_dir(tmp_path_factory.getbasetemp()))
    with pytest.raises(ValueError, match="return_offsets_mapping needs RemBertTokenizerFast"):
        tok("the cat", return_offsets_mapping=True)
    with pytest.raises(ValueError, match=r"word_ids\(\) needs RemBertTokenizerFast or is_split_into_words=True"):
        tok("the cat").word_ids()


def test_batch_encoding_is_a_dict_and_a_pytree(tok):
    import jax

    out = tok(["the cat", "a"], padding=True, return_tensors="np")
    assert out.input_ids is out["input_ids"]
    assert out.tokens(1) == ["[CLS]", "▁a", "[SEP]", "[PAD]"]
    on_device = jax.device_put(out)
    assert type(on_device) is type(out) and set(on_device) == set(out)
    assert isinstance(on_device["input_ids"], jax.Array)
    assert jax.tree.map(lambda x: x.shape, out)["attention_mask"] == (2, 4)
    with pytest.raises(AttributeError, match="no attribute or key 'labels'"):
        _ = out.labels


def test_legacy_encode_plus_names(tok):
    assert tok.encode_plus("the cat", "a dog") == tok("the cat", "a dog")
    assert tok.batch_encode_plus([("the cat", "a dog"), ("a", "the")], padding=True) == tok(
        ["the cat", "a"], ["a dog", "the"], padding=True)
    assert tok("the cat", "a dog").n_sequences == 2
