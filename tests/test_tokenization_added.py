"""Added tokens, against transformers 5's RemBertTokenizer on the demo's sentencepiece model.

Each test does the same thing to our tokenizer and to transformers' (loaded from the plain demo
files as our save_pretrained writes them, since transformers 5 builds no `[CLS]`/`[SEP]` template
from sentencepiece.model alone) and compares ids, vocabularies and the saved flags; then files
written by either side are loaded by the other. Texts avoid the documented differences (unknown
text; for the sentencepiece class, whitespace right before an added token, pinned separately).
"""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
from tokenizers import AddedToken

import rembert_jax
from rembert_jax import RemBertTokenizer, RemBertTokenizerFast
from rembert_jax.train.data.files import DEMO_DIR

transformers = pytest.importorskip("transformers")

CLASSES = [RemBertTokenizer, RemBertTokenizerFast]
TEXTS = [
    "hello_world is here", "the Hello worldhello_world", "a foo bar b", "afoo barb", "a,foo bar.", "<extra>start",
    "end<extra>", "Le café[NEW]près", "two <lstrip>  spaces", "[MASK] de[NEW]x", "xhello_worldy", "hello_world",
]


def _add(tokenizer) -> list[int]:
    """The same additions on either side; returns each call's count."""
    return [
        tokenizer.add_tokens(["hello_world", AddedToken("foo bar", single_word=True, lstrip=True, normalized=False)]),
        tokenizer.add_special_tokens({"additional_special_tokens": ["<extra>"]}),
        tokenizer.add_tokens(["[NEW]"], special_tokens=True),
        tokenizer.add_tokens([AddedToken("<lstrip>", lstrip=True, rstrip=True), "▁de"]),  # ▁de: a model piece
    ]


def _states(tokenizer) -> dict[int, dict]:
    return {index: token.__getstate__() for index, token in tokenizer.added_tokens_decoder.items()}


def _transformers_from_plain_demo(tmp_path):
    RemBertTokenizerFast.from_pretrained(DEMO_DIR).save_pretrained(tmp_path / "plain")
    return transformers.AutoTokenizer.from_pretrained(str(tmp_path / "plain"))


def _assert_same(ours, theirs, texts=TEXTS):
    assert len(ours) == len(theirs)
    assert ours.get_added_vocab() == theirs.get_added_vocab()
    assert _states(ours) == _states(theirs)
    for text in texts:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
        ids = ours(text)["input_ids"]
        assert ours.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True), text


@pytest.mark.parametrize("cls", CLASSES)
def test_adding_tokens_matches_transformers(cls, tmp_path):
    ours, theirs = cls.from_pretrained(DEMO_DIR), _transformers_from_plain_demo(tmp_path)
    assert _add(ours) == _add(theirs) == [2, 1, 1, 2]  # the model piece ▁de counts, as in tokenizers
    assert len(ours) == ours.vocab_size + 5 and ours.convert_tokens_to_ids("▁de") == 16
    assert ours.additional_special_tokens == ["<extra>"] and ours.additional_special_tokens_ids == [3002]
    _assert_same(ours, theirs)
    assert ours.added_tokens_encoder["[NEW]"] == 3003 and ours.added_tokens_decoder[3003].special
    assert ours.tokenize("a foo bar b") == ["▁a", "foo bar", "▁b"]  # single_word: a whole word here
    assert "foo bar" not in ours.tokenize("afoo barb")  # ... and not inside one
    clone = pickle.loads(pickle.dumps(ours))
    assert clone(TEXTS)["input_ids"] == ours(TEXTS)["input_ids"] and _states(clone) == _states(ours)


@pytest.mark.parametrize("cls", CLASSES)
def test_saved_added_tokens_load_in_transformers_with_the_same_ids(cls, tmp_path):
    ours = cls.from_pretrained(DEMO_DIR)
    _add(ours)
    names = sorted(p.rsplit("/", 1)[-1] for p in ours.save_pretrained(tmp_path / "ours"))
    assert names == ["added_tokens.json", "sentencepiece.model", "special_tokens_map.json", "tokenizer.json",
                     "tokenizer_config.json"]
    config = json.loads((tmp_path / "ours" / "tokenizer_config.json").read_text())
    assert config["added_tokens_decoder"]["3001"] == {
        "content": "foo bar", "lstrip": True, "normalized": False, "rstrip": False, "single_word": True,
        "special": False}
    assert config["additional_special_tokens"] == ["<extra>"]
    assert json.loads((tmp_path / "ours" / "added_tokens.json").read_text()) == {
        "hello_world": 3000, "foo bar": 3001, "<extra>": 3002, "[NEW]": 3003, "<lstrip>": 3004}
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    _assert_same(ours, theirs)
    assert theirs.extra_special_tokens == ["<extra>"]


@pytest.mark.parametrize("cls", CLASSES)
def test_transformers_saved_added_tokens_load_in_ours_with_the_same_ids(cls, tmp_path):
    theirs = _transformers_from_plain_demo(tmp_path)
    _add(theirs)
    theirs.save_pretrained(str(tmp_path / "theirs"))
    # transformers 5 writes tokenizer.json and tokenizer_config.json only; the sentencepiece class
    # needs the model file next to them.
    shutil.copy(DEMO_DIR / "sentencepiece.model", tmp_path / "theirs")
    ours = cls.from_pretrained(tmp_path / "theirs")
    _assert_same(ours, theirs)
    assert ours.additional_special_tokens == ["<extra>"]
    # ... and written again by us, read again by transformers.
    ours.save_pretrained(tmp_path / "again")
    _assert_same(ours, transformers.AutoTokenizer.from_pretrained(str(tmp_path / "again")))


@pytest.mark.parametrize("cls", CLASSES)
def test_legacy_added_tokens_json_without_added_tokens_decoder_loads_as_transformers_reads_it(cls, tmp_path):
    # transformers < 4.34 wrote only added_tokens.json; a token is special when it is a special token.
    for name in ("sentencepiece.model", "special_tokens_map.json"):
        shutil.copy(DEMO_DIR / name, tmp_path / name)
    config = json.loads((DEMO_DIR / "tokenizer_config.json").read_text())
    config["additional_special_tokens"] = ["<extra>"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    (tmp_path / "added_tokens.json").write_text(json.dumps({"hello_world": 3000, "<extra>": 3001}))
    ours = cls.from_pretrained(tmp_path)
    assert ours.get_added_vocab() == {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4,
                                      "hello_world": 3000, "<extra>": 3001}
    assert ours.added_tokens_decoder[3000].normalized and not ours.added_tokens_decoder[3000].special
    assert ours.added_tokens_decoder[3001].special
    assert ours("a,hello_world<extra>")["input_ids"][-3:] == [3000, 3001, 3]
    ours.save_pretrained(tmp_path / "saved")
    texts = ["a,hello_world<extra>", "hello_world is here", "<extra>start"]
    _assert_same(ours, transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved")), texts)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("listed", [
    {"additional_special_tokens": ["<e1>", "<e2>"]},  # transformers 4.x
    {"additional_special_tokens": [{"content": "<e1>", "lstrip": False, "normalized": False, "rstrip": False,
                                    "single_word": False, "special": True}, "<e2>"]},
    {"extra_special_tokens": ["<e1>", "<e2>"]},  # transformers 5
])
def test_config_listing_additional_special_tokens_loads(cls, listed, tmp_path):
    # Used to crash in sentencepiece's PieceToId for anything but plain strings.
    for name in ("sentencepiece.model", "special_tokens_map.json"):
        shutil.copy(DEMO_DIR / name, tmp_path / name)
    config = {**json.loads((DEMO_DIR / "tokenizer_config.json").read_text()), **listed}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ours = cls.from_pretrained(tmp_path)
    assert ours.additional_special_tokens == ["<e1>", "<e2>"]
    assert ours.additional_special_tokens_ids == [len(ours) - 2, len(ours) - 1]
    ids = ours("a<e1>b<e2>")["input_ids"]
    assert ids[2] == len(ours) - 2 and ids[4] == len(ours) - 1
    assert ours.decode(ids, skip_special_tokens=True) == "a b"


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("bad", [[5], [""], [{"lstrip": True}], "<e1>"])
def test_bad_additional_special_tokens_in_a_config_are_named(cls, bad, tmp_path):
    shutil.copy(DEMO_DIR / "sentencepiece.model", tmp_path / "sentencepiece.model")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"additional_special_tokens": bad}))
    with pytest.raises(ValueError, match="additional_special_tokens"):
        cls.from_pretrained(tmp_path)


@pytest.mark.parametrize("cls", CLASSES)
def test_added_token_flags_and_errors(cls):
    tok = cls.from_pretrained(DEMO_DIR)
    assert tok.add_tokens([]) == 0 and tok.add_tokens("hello_world") == 1 and tok.add_tokens("hello_world") == 0
    assert tok.add_special_tokens({"pad_token": "<mypad>"}) == 1
    assert (tok.pad_token, tok.pad_token_id) == ("<mypad>", len(tok) - 1)
    assert tok(["a", "a b"], padding=True)["input_ids"][0][-1] == len(tok) - 1
    with pytest.raises(ValueError, match="not a special token name"):
        tok.add_special_tokens({"pad": "<p>"})
    with pytest.raises(ValueError, match=r"new_tokens\[0\] must be a str or a tokenizers.AddedToken"):
        tok.add_tokens([3])
    with pytest.raises(ValueError, match="additional_special_tokens must be a list"):
        tok.add_special_tokens({"additional_special_tokens": "<x>"})


@pytest.mark.parametrize("cls", CLASSES)
def test_add_special_tokens_extends_or_replaces_the_extra_list_as_transformers(cls, tmp_path):
    ours, theirs = cls.from_pretrained(DEMO_DIR), _transformers_from_plain_demo(tmp_path)
    for tok in (ours, theirs):
        tok.add_special_tokens({"additional_special_tokens": ["<a>"]})
    theirs.add_special_tokens({"additional_special_tokens": ["<b>"]}, replace_extra_special_tokens=False)
    ours.add_special_tokens({"additional_special_tokens": ["<b>"]}, replace_additional_special_tokens=False)
    assert ours.additional_special_tokens == theirs.extra_special_tokens == ["<a>", "<b>"]
    ours.add_special_tokens({"additional_special_tokens": ["<a>"]}, replace_extra_special_tokens=False)  # 5.x name
    assert ours.additional_special_tokens == ["<a>", "<b>"]
    for tok in (ours, theirs):
        tok.add_special_tokens({"extra_special_tokens": ["<c>"]})
    assert ours.extra_special_tokens == theirs.extra_special_tokens == ["<c>"]
    _assert_same(ours, theirs, ["x<a>y<b>z<c>"])


def test_sentencepiece_class_drops_whitespace_before_an_added_token_where_transformers_keeps_a_piece(tmp_path):
    # The documented slow/fast difference (README): sentencepiece trims the text before the token.
    ours, theirs = RemBertTokenizer.from_pretrained(DEMO_DIR), _transformers_from_plain_demo(tmp_path)
    _add(ours), _add(theirs)
    ours_ids, theirs_ids = ours("Le café [NEW] près")["input_ids"], theirs("Le café [NEW] près")["input_ids"]
    position = theirs_ids.index(3003)
    assert theirs.convert_ids_to_tokens(theirs_ids[position - 1]) == "▁"
    assert ours_ids == theirs_ids[:position - 1] + theirs_ids[position:]
    fast = RemBertTokenizerFast.from_pretrained(DEMO_DIR)
    _add(fast)
    assert fast("Le café [NEW] près")["input_ids"] == theirs_ids


@pytest.mark.parametrize("source", CLASSES)
@pytest.mark.parametrize("target", CLASSES)
def test_special_token_given_as_added_token_keeps_its_flags_across_classes_and_transformers(source, target, tmp_path):
    # transformers' own RemBERT tokenizer test: a custom eos AddedToken and the lstrip mask survive every round trip.
    eos = AddedToken("[NEW_EOS]", lstrip=True, rstrip=False, normalized=False)
    ours = source.from_pretrained(DEMO_DIR, eos_token=eos)
    assert ours.eos_token == "[NEW_EOS]" and ours.eos_token_id == 3000
    assert rembert_jax.AddedToken is AddedToken
    assert _states(ours)[3000] == {"content": "[NEW_EOS]", "single_word": False, "lstrip": True, "rstrip": False,
                                   "normalized": False, "special": True}
    ours.save_pretrained(tmp_path / "ours")
    loaded = target.from_pretrained(tmp_path / "ours")
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    texts = ["a [NEW_EOS]b", "hello [MASK] world[NEW_EOS]"]
    _assert_same(loaded, theirs, texts)
    _assert_same(ours, theirs, texts)
    assert loaded.eos_token == theirs.eos_token == "[NEW_EOS]"


@pytest.mark.parametrize("cls", CLASSES)
def test_with_do_lower_case_normalized_added_tokens_match_any_case_and_special_ones_only_as_written(cls, tmp_path):
    RemBertTokenizerFast.from_pretrained(DEMO_DIR, do_lower_case=True).save_pretrained(tmp_path / "lower")
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "lower"))
    ours = cls.from_pretrained(DEMO_DIR, do_lower_case=True)
    for tok in (ours, theirs):
        tok.add_tokens(["HeLLo"])
        tok.add_special_tokens({"additional_special_tokens": ["<EXTRA>"]})
    for text in ["HELLO,hello,HeLLo", "a<EXTRA>b", "Wörld<EXTRA>x,HeLLo"]:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
    assert ours("a<EXTRA>b")["input_ids"][2] == ours.convert_tokens_to_ids("<EXTRA>")
