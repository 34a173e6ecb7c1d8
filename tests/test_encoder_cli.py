"""`rembert-jax forward`: the README's temporary main job runs the tiny preset on a sentence."""

from __future__ import annotations

import os

from rembert_jax.cli import main


def test_forward_on_the_tiny_preset_uses_its_tokenizer_and_prints_shapes_and_timing(capsys):
    from rembert_jax import RemBertTokenizerFast

    assert main(["forward", "--preset", "tiny", "Hello, world.", "Ünïcode ✓"]) == 0
    out = capsys.readouterr().out
    assert "preset 'tiny' with RANDOM weights" in out
    assert "the 'tiny' preset's tokenizer" in out
    longest = max(len(RemBertTokenizerFast.from_preset("tiny")(t)["input_ids"]) for t in ("Hello, world.", "Ünïcode ✓"))
    assert f"last_hidden_state (2, {longest}, 32) float32, pooler_output (2, 32)" in out
    assert "time:       first call" in out


def test_a_tokenizer_that_does_not_fit_the_vocab_is_an_error(tiny_config, tmp_path, capsys):
    # the demo sentencepiece model has ids far beyond the test model's 99
    from hf_reference import hf_model

    import rembert_jax.train

    hf_model(tiny_config).save_pretrained(tmp_path)
    demo = os.path.join(os.path.dirname(rembert_jax.train.__file__), "demo")
    assert main(["forward", "--model", str(tmp_path), "--tokenizer", demo, "Hello"]) == 2
    assert "outside this model's vocab_size=99: use the tokenizer that belongs to the model" in capsys.readouterr().err


def test_forward_on_a_pytorch_checkpoint_uses_the_tokenizer_saved_with_it(tiny_config, tmp_path, capsys):
    from hf_reference import hf_model

    from rembert_jax import RemBertTokenizerFast

    tokenizer = RemBertTokenizerFast.from_preset("tiny")
    hf_model(tiny_config.replace(vocab_size=len(tokenizer))).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert main(["forward", "--model", str(tmp_path), "Hello"]) == 0
    out = capsys.readouterr().out
    length = len(tokenizer("Hello")["input_ids"])
    assert f"checkpoint {tmp_path}" in out and f"tokenizer {tmp_path}" in out
    assert f"last_hidden_state (1, {length}, 32) float32" in out


def test_a_checkpoint_without_a_tokenizer_asks_for_one(tiny_config, tmp_path, capsys):
    from hf_reference import hf_model

    hf_model(tiny_config).save_pretrained(tmp_path)
    assert main(["forward", "--model", str(tmp_path), "Hello"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} has no tokenizer" in err and "pass --tokenizer DIR" in err
