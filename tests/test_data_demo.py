"""The embedded demo dataset: size, languages and scripts, split hygiene, tokenizer layout, reproducibility."""

import collections
import importlib.util
import json
import unicodedata

import numpy as np
import pytest
from data_fixtures import reference_tokenizer

from rembert_jax.train.data import load_task_dataset, load_tokenizer
from rembert_jax.train.data.files import DEMO_DIR, read_records

SPLITS = ("train", "dev", "test")


def _build_script():
    spec = importlib.util.spec_from_file_location("build_dataset", DEMO_DIR / "build_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def splits():
    return {name: read_records(DEMO_DIR / f"{name}.jsonl") for name in SPLITS}


def test_demo_folder_ships_data_tokenizer_provenance_licence_and_build_script():
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "labels.json", "sentencepiece.model",
                 "tokenizer_config.json", "special_tokens_map.json", "PROVENANCE.md", "LICENSE", "build_dataset.py"):
        assert (DEMO_DIR / name).is_file(), name
    assert sum(f.stat().st_size for f in DEMO_DIR.iterdir() if f.is_file()) <= 2 * 1024 * 1024


def test_sixteen_languages_in_at_least_three_scripts_with_enough_examples_each(splits):
    labels = json.loads((DEMO_DIR / "labels.json").read_text())
    assert len(labels) == 16
    scripts = set()
    for example in splits["train"]:
        scripts |= {unicodedata.name(ch).split()[0] for ch in example["text"] if ch.isalpha()}
    assert {"LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "DEVANAGARI", "CJK", "HIRAGANA", "HANGUL"} <= scripts
    for name, minimum in (("train", 50), ("dev", 5), ("test", 9)):
        counts = collections.Counter(e["label"] for e in splits[name])
        assert set(counts) == set(labels) and min(counts.values()) >= minimum, name


def test_splits_are_by_article_so_held_out_text_is_never_trained_on(splits):
    build = _build_script()
    for name in SPLITS:
        sections = {e["id"].rsplit("-", 1)[0].split("-", 2)[2] for e in splits[name]}
        assert {build.split_of(section) for section in sections} == {name}
    train_texts = {e["text"] for e in splits["train"]}
    assert not train_texts & {e["text"] for e in splits["dev"] + splits["test"]}


def test_sentence_splitting_and_sections_of_a_declaration():
    html = """<html><body><h1>T</h1><header><h2>Preamble</h2><p>Whereas one,</p><p>Short.</p></header>
    <article data-number="3"><h2>Article 3</h2><p>Everyone has the right to life. No one shall be a slave!</p></article>
    <article data-number="6"><ol><li>人人有权享有生命。人人有权享有自由。</li></ol></article></body></html>"""
    build = _build_script()
    assert build.sentences_of(html, "en") == [
        ("preamble", "Whereas one,"), ("article-3", "Everyone has the right to life."),
        ("article-3", "No one shall be a slave!")]  # "Short." and the Chinese under 10 characters are dropped
    assert build.sentences_of(html, "zh")[-2:] == [("article-6", "人人有权享有生命。"), ("article-6", "人人有权享有自由。")]
    assert [build.split_of(s) for s in ("preamble", "article-3", "article-6", "article-7")] == \
        ["train", "test", "dev", "train"]


def test_sentencepiece_model_has_the_hub_id_layout_and_is_reproducible(tmp_path, splits):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(DEMO_DIR / "sentencepiece.model"))
    assert [sp.id_to_piece(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert sp.get_piece_size() == 3000
    config = json.loads((DEMO_DIR / "tokenizer_config.json").read_text())
    assert (config["do_lower_case"], config["keep_accents"], config["remove_space"]) == (False, True, True)
    _build_script().train_sentencepiece([e["text"] for e in splits["train"]], tmp_path)
    assert (tmp_path / "sentencepiece.model").read_bytes() == (DEMO_DIR / "sentencepiece.model").read_bytes()


def test_demo_loads_through_the_project_tokenizer_like_the_reference_tokenizer():
    spec = {"train": "demo:train.jsonl", "test": "demo:test.jsonl", "labels": "demo:labels.json",
            "tokenizer": "demo:", "max_length": 128}
    ours = load_task_dataset(spec, load_tokenizer(spec["tokenizer"]), "test", task="sequence_classification")
    reference = load_task_dataset(spec, reference_tokenizer(), "test", task="sequence_classification")
    assert len(ours) == 151 and ours.num_labels == 16
    for a, b in zip(ours.features, reference.features, strict=True):
        np.testing.assert_array_equal(a["input_ids"], b["input_ids"])
        assert a["labels"] == b["labels"]
    unknown = np.mean(np.concatenate([f["input_ids"] for f in ours.features]) == ours.token_ids.pad + 1)
    assert unknown < 0.02  # [UNK] (id 1) is rare in held-out text


def test_missing_tokenizer_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data\.tokenizer: '.*nowhere' does not exist"):
        load_tokenizer(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"data\.tokenizer is not set"):
        load_tokenizer(None)


def test_qa_windows_and_word_alignment_agree_between_the_project_and_the_reference_tokenizer(tmp_path):
    context = " ".join(e["text"] for e in read_records(DEMO_DIR / "test.jsonl")[:6])
    answer = context.split()[20]
    qa = [{"id": "q", "question": "Which word?", "context": context,
           "answers": {"text": [answer], "answer_start": [context.index(" " + answer + " ") + 1]}}]
    ner = [{"tokens": e["text"].split()[:12], "tags": ["O"] * len(e["text"].split()[:12])}
           for e in read_records(DEMO_DIR / "test.jsonl")[:20]]
    for task, records in (("question_answering", qa), ("token_classification", ner)):
        path = tmp_path / f"{task}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        spec = {"train": str(path), "max_length": 48, "doc_stride": 12}
        ours = load_task_dataset(spec, load_tokenizer("demo:"), "train", task=task)
        reference = load_task_dataset(spec, reference_tokenizer(), "train", task=task)
        assert len(ours) == len(reference) and (task != "question_answering" or len(ours) > 1)
        for a, b in zip(ours.features, reference.features, strict=True):
            assert a.keys() == b.keys()
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{task} {key}")
        assert ours.qa_offsets == reference.qa_offsets
