"""Reading and writing transformers' tokenizer files, constructor flags, and file errors."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys

import pytest
from fixtures.tokenizer_models import HUB_CONFIG, trained_model_dir, word_model_dir

from rembert_jax import RemBertTokenizer, RemBertTokenizerFast

CLASSES = [RemBertTokenizer, RemBertTokenizerFast]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def words_dir(tmp_path_factory):
    return word_model_dir(tmp_path_factory.getbasetemp())


@pytest.mark.parametrize("cls", CLASSES)
def test_save_pretrained_writes_the_transformers_file_set(cls, model_dir, tmp_path):
    tok = cls.from_pretrained(model_dir, model_max_length=256)
    paths = tok.save_pretrained(tmp_path)
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert names == ["sentencepiece.model", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    assert (tmp_path / "sentencepiece.model").read_bytes() == (model_dir / "sentencepiece.model").read_bytes()
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    for key, value in HUB_CONFIG.items():
        assert config[key] == value, key
    assert config["model_max_length"] == 256
    assert config["added_tokens_decoder"]["4"] == {
        "content": "[MASK]", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False,
        "special": True}
    special = json.loads((tmp_path / "special_tokens_map.json").read_text())
    assert special["cls_token"] == "[CLS]" and special["mask_token"]["lstrip"] is True
    reloaded = cls.from_pretrained(tmp_path)
    text = "Le café près de la gare ouvre à sept heures [MASK]."
    assert reloaded(text) == tok(text)
    assert reloaded.model_max_length == 256 and reloaded.special_tokens_map == tok.special_tokens_map


@pytest.mark.parametrize("cls", CLASSES)
def test_directory_with_only_sentencepiece_model_loads_with_reference_defaults(cls, model_dir, tmp_path):
    shutil.copy(model_dir / "sentencepiece.model", tmp_path / "sentencepiece.model")
    tok = cls.from_pretrained(tmp_path)
    assert (tok.do_lower_case, tok.keep_accents, tok.remove_space) == (False, True, True)
    assert (tok.unk_token, tok.pad_token, tok.cls_token) == ("[UNK]", "[PAD]", "[CLS]")
    hub = cls.from_pretrained(model_dir)
    text = "Über die Brücke gehen wir, CAFÉ!"
    assert tok(text) == hub(text)
    assert cls.from_pretrained(tmp_path / "sentencepiece.model")(text) == hub(text)  # a file path works too


def test_config_and_keyword_arguments_set_the_flags(model_dir, tmp_path):
    shutil.copy(model_dir / "sentencepiece.model", tmp_path / "sentencepiece.model")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 7}))
    slow, fast = RemBertTokenizer.from_pretrained(tmp_path), RemBertTokenizerFast.from_pretrained(tmp_path)
    assert slow.do_lower_case and fast.do_lower_case and fast.model_max_length == 7
    assert slow("CAFÉ Über")["input_ids"] == fast("CAFÉ Über")["input_ids"] == slow("café über")["input_ids"]
    assert RemBertTokenizerFast.from_pretrained(tmp_path, do_lower_case=False)("CAFÉ") != fast("CAFÉ")


def test_keep_accents_false_strips_accents_only_in_the_fast_tokenizer(model_dir):
    # The reference's slow tokenizer stores keep_accents but never applies it (spec §6.3).
    slow = RemBertTokenizer.from_pretrained(model_dir, keep_accents=False)
    fast_from_spm = RemBertTokenizerFast(str(model_dir / "sentencepiece.model"), keep_accents=False)
    assert fast_from_spm("café près")["input_ids"] == fast_from_spm("cafe pres")["input_ids"]
    assert slow("café près")["input_ids"] != slow("cafe pres")["input_ids"]


@pytest.mark.parametrize("cls", CLASSES)
def test_save_vocabulary_copies_the_sentencepiece_model(cls, words_dir, tmp_path):
    tok = cls.from_pretrained(words_dir)
    (path,) = tok.save_vocabulary(tmp_path, filename_prefix="mine")
    assert path == str(tmp_path / "mine-sentencepiece.model")
    assert (tmp_path / "mine-sentencepiece.model").read_bytes() == (words_dir / "sentencepiece.model").read_bytes()
    assert tok.save_vocabulary(tmp_path) == (str(tmp_path / "sentencepiece.model"),)
    with pytest.raises(FileNotFoundError, match="save_vocabulary needs an existing directory"):
        tok.save_vocabulary(tmp_path / "missing")


def test_fast_from_tokenizer_json_alone_saves_without_sentencepiece(words_dir, tmp_path):
    RemBertTokenizerFast.from_pretrained(words_dir).save_pretrained(tmp_path / "a")
    (tmp_path / "a" / "sentencepiece.model").unlink()
    tok = RemBertTokenizerFast.from_pretrained(tmp_path / "a")
    with pytest.raises(ValueError, match="loaded from tokenizer.json alone"):
        tok.save_vocabulary(tmp_path)
    paths = tok.save_pretrained(tmp_path / "b")
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == [
        "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]


def test_truncation_settings_of_a_call_are_not_saved(words_dir, tmp_path):
    tok = RemBertTokenizerFast.from_pretrained(words_dir)
    tok("the cat sat", truncation=True, max_length=3)
    tok.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer.json").read_text())["truncation"] is None
    assert tok("the cat sat")["input_ids"] == [2, 6, 7, 8, 3]


@pytest.mark.parametrize("cls", CLASSES)
def test_tokenizers_pickle(cls, words_dir):
    tok = cls.from_pretrained(words_dir)
    clone = pickle.loads(pickle.dumps(tok))
    assert clone("the cat", "a dog") == tok("the cat", "a dog")
    assert pickle.loads(pickle.dumps(tok("the cat")))["input_ids"] == [2, 6, 7, 3]


# ---- file errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_missing_directory_or_hub_id_is_a_clear_error(cls, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'google/rembert' \(revision 'main'\) is not in the Hugging Face "
                       r"cache at .*empty-cache, and HF_HUB_OFFLINE is set"):
        cls.from_pretrained("google/rembert", cache_dir=tmp_path / "empty-cache")  # the test suite runs offline
    with pytest.raises(FileNotFoundError, match=r"sentencepiece.model (not )?found in"):
        cls.from_pretrained(tmp_path)  # an empty directory


def test_slow_tokenizer_needs_the_sentencepiece_model(words_dir, tmp_path):
    RemBertTokenizerFast.from_pretrained(words_dir).save_pretrained(tmp_path)
    (tmp_path / "sentencepiece.model").unlink()
    with pytest.raises(FileNotFoundError, match=r"sentencepiece.model not found .*RemBertTokenizerFast reads"):
        RemBertTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="sentencepiece model not found"):
        RemBertTokenizer(tmp_path / "nothing.model")
    with pytest.raises(ValueError, match="needs vocab_file .* or tokenizer_file"):
        RemBertTokenizerFast()


@pytest.mark.parametrize("cls", CLASSES)
def test_corrupt_sentencepiece_model_is_a_clear_error(cls, tmp_path):
    (tmp_path / "sentencepiece.model").write_bytes(b"\x00this is not a protobuf\xff" * 10)
    with pytest.raises(ValueError, match="is not a valid sentencepiece model"):
        cls.from_pretrained(tmp_path)


@pytest.mark.parametrize("cls", CLASSES)
def test_non_unigram_model_is_rejected(cls, words_dir, tmp_path):
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString((words_dir / "sentencepiece.model").read_bytes())
    proto.trainer_spec.model_type = pb.TrainerSpec.BPE
    (tmp_path / "sentencepiece.model").write_bytes(proto.SerializeToString())
    with pytest.raises(ValueError, match="RemBERT needs a Unigram model"):
        cls.from_pretrained(tmp_path)


def test_corrupt_json_files_are_clear_errors(words_dir, tmp_path):
    shutil.copy(words_dir / "sentencepiece.model", tmp_path / "sentencepiece.model")
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not a valid tokenizers JSON file"):
        RemBertTokenizerFast.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    (tmp_path / "tokenizer_config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        RemBertTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("{")
    with pytest.raises(ValueError, match="is not valid JSON"):
        RemBertTokenizer.from_pretrained(tmp_path)


def test_bad_constructor_values_are_rejected(words_dir):
    path = words_dir / "sentencepiece.model"
    with pytest.raises(ValueError, match="padding_side must be 'right' or 'left'"):
        RemBertTokenizer(path, padding_side="middle")
    with pytest.raises(ValueError, match="model_max_length must be a positive int"):
        RemBertTokenizerFast(path, model_max_length=0)
    with pytest.raises(ValueError, match="mask_token must be a non-empty str, an AddedToken or None"):
        RemBertTokenizer(path, mask_token=5)


@pytest.mark.parametrize("cls", CLASSES)
def test_transformers_loading_arguments_are_accepted(cls, words_dir, tmp_path):
    shutil.copytree(words_dir, tmp_path / "sub")
    tok = cls.from_pretrained(tmp_path, subfolder="sub", cache_dir=str(tmp_path), revision="main",
                              local_files_only=True, use_fast=True)
    assert tok("the cat")["input_ids"] == [2, 6, 7, 3]


def test_using_the_tokenizers_imports_no_torch_transformers_or_tensorflow(words_dir):
    code = (
        "import sys, rembert_jax\n"
        f"tok = rembert_jax.RemBertTokenizerFast.from_pretrained({str(words_dir)!r})\n"
        f"slow = rembert_jax.RemBertTokenizer.from_pretrained({str(words_dir)!r})\n"
        "tok(['the cat'], padding=True, return_tensors='np'); slow('the cat', return_tensors='jax')\n"
        "print(sorted(m for m in ('torch', 'transformers', 'tensorflow') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("source", CLASSES)
@pytest.mark.parametrize("target", CLASSES)
def test_custom_special_tokens_survive_save_and_load_across_classes(source, target, words_dir, tmp_path):
    tok = source.from_pretrained(words_dir, eos_token="[NEW_EOS]")
    new_id = tok.vocab_size  # not in the model: added after its pieces
    assert tok.eos_token_id == new_id
    tok.save_pretrained(tmp_path)
    loaded = target.from_pretrained(tmp_path)
    assert (loaded.eos_token, loaded.eos_token_id, loaded.mask_token) == ("[NEW_EOS]", new_id, "[MASK]")
    text = "the cat[NEW_EOS] the [MASK]"  # no space before [NEW_EOS]: only [MASK] absorbs one
    assert loaded(text)["input_ids"] == tok(text)["input_ids"] == [2, 6, 7, new_id, 6, 4, 3]


def test_tokenizer_object_of_the_caller_is_copied_not_changed(words_dir):
    # As transformers' PreTrainedTokenizerFast(tokenizer_object=...): per-call truncation, padding and the
    # special tokens registered at construction must not leak into the caller's Tokenizer.
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(RemBertTokenizerFast.from_pretrained(words_dir).backend_tokenizer.to_str())
    backend.enable_truncation(7)
    before = backend.to_str()
    tokenizer = RemBertTokenizerFast(tokenizer_object=backend, additional_special_tokens=["[NEW]"])
    tokenizer(["the cat sat", "the cat"], truncation=True, max_length=3, padding=True)
    assert backend.to_str() == before
    assert tokenizer.backend_tokenizer is not backend
