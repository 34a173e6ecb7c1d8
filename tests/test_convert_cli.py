"""`rembert-jax convert SRC DST --to ...`: source detection, every target, errors naming the input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from convert_testing import assert_trees_equal, random_params
from hf_reference import hf_model, to_numpy

from rembert_jax.cli import main
from rembert_jax.convert import detect_format, load_pytorch, save_keras, save_orbax, save_pytorch


def test_command_module_imports_no_heavy_framework():
    code = ("import sys, rembert_jax.cli.convert as c, argparse; c.add_arguments(argparse.ArgumentParser()); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'flax', 'orbax', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_formats_are_detected_from_the_files(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    save_pytorch(tmp_path / "pt", tiny_config, params)
    save_keras(tmp_path / "h5", tiny_config, params)
    save_orbax(tmp_path / "orbax", tiny_config, params)
    assert detect_format(tmp_path / "pt") == "pytorch"
    assert detect_format(tmp_path / "pt" / "model.safetensors") == "pytorch"
    assert detect_format(tmp_path / "h5") == "tf-h5"
    assert detect_format(tmp_path / "h5" / "tf_model.h5") == "tf-h5"
    assert detect_format(tmp_path / "orbax") == "jax"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"cannot tell the checkpoint format of directory .*empty.*--from"):
        detect_format(tmp_path / "empty")


def test_transformers_checkpoint_through_every_format_and_back_is_bit_exact(tiny_config, tmp_path, capsys):
    model = hf_model(tiny_config, "masked_lm")
    model.save_pretrained(tmp_path / "hf")
    state = {k: to_numpy(v) for k, v in model.state_dict().items()}
    targets = ["jax", "tf-h5"]
    try:
        import tensorflow  # noqa: F401

        targets.append("tf-checkpoint")
    except ImportError:
        pass
    for target in targets:
        assert main(["convert", str(tmp_path / "hf"), str(tmp_path / target), "--to", target]) == 0
        assert main(["convert", str(tmp_path / target), str(tmp_path / f"{target}-pt"), "--to", "pytorch"]) == 0
        out = capsys.readouterr().out
        assert f"(pytorch, masked_lm) -> {tmp_path / target} ({target})" in out
        assert f"({target}, masked_lm) -> {tmp_path / target}-pt (pytorch)" in out
        from safetensors.numpy import load_file

        back = load_file(tmp_path / f"{target}-pt" / "model.safetensors")
        assert back.keys() == state.keys()
        for key, value in state.items():
            np.testing.assert_array_equal(back[key], value, err_msg=f"{target}: {key}")


def test_dtype_and_task_options(tiny_config, tmp_path):
    import ml_dtypes

    params = random_params(tiny_config, "base")
    save_pytorch(tmp_path / "base", tiny_config, params)
    args = ["convert", str(tmp_path / "base"), str(tmp_path / "cls"), "--to", "pytorch", "--dtype", "bf16",
            "--task", "sequence_classification"]
    assert main(args) == 0
    config = json.loads((tmp_path / "cls" / "config.json").read_text())
    assert config["architectures"] == ["RemBertForSequenceClassification"] and config["dtype"] == "bfloat16"
    _, loaded = load_pytorch(tmp_path / "cls", task="sequence_classification")
    assert loaded["head"]["classifier"]["kernel"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(np.asarray(loaded["encoder"]["layers"]["mlp"]["ln"]["scale"]),
                                  params["layers"]["mlp"]["ln"]["scale"].astype(ml_dtypes.bfloat16))


def test_orbax_roundtrip_keeps_the_task(tiny_config, tmp_path):
    params = random_params(tiny_config, "question_answering")
    save_orbax(tmp_path / "orbax", tiny_config, params, task="question_answering")
    assert main(["convert", str(tmp_path / "orbax"), str(tmp_path / "pt"), "--to", "pytorch"]) == 0
    _, loaded = load_pytorch(tmp_path / "pt", task="auto")
    assert_trees_equal(params, loaded)


def test_orbax_task_model_converts_to_its_bare_encoder_or_refuses_another_head(tiny_config, tmp_path, capsys):
    params = random_params(tiny_config, "token_classification")
    save_orbax(tmp_path / "orbax", tiny_config, params, task="token_classification")
    assert main(["convert", str(tmp_path / "orbax"), str(tmp_path / "pt"), "--to", "pytorch", "--task", "base"]) == 0
    _, loaded = load_pytorch(tmp_path / "pt")
    assert_trees_equal(params["encoder"], loaded)
    args = ["convert", str(tmp_path / "orbax"), str(tmp_path / "x"), "--to", "pytorch", "--task", "masked_lm"]
    assert main(args) == 2
    assert "holds a token_classification model, not masked_lm" in capsys.readouterr().err


def test_bad_inputs_exit_2_with_a_message_naming_the_input(tiny_config, tmp_path, capsys):
    (tmp_path / "junk").mkdir()
    assert main(["convert", str(tmp_path / "junk"), str(tmp_path / "out"), "--to", "jax"]) == 2
    assert "cannot tell the checkpoint format of directory" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"\x08" + b"\x00" * 7 + b"{broken}")
    tiny_config.save_pretrained(tmp_path / "bad")
    assert main(["convert", str(tmp_path / "bad"), str(tmp_path / "out"), "--to", "jax"]) == 2
    assert "model.safetensors is not a readable safetensors file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["convert", str(tmp_path / "nothing"), str(tmp_path / "out"), "--to", "jax"]) == 2
    assert "nothing' does not exist" in capsys.readouterr().err


def test_a_bad_config_option_exits_2_with_a_message(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    args = ["convert", str(tmp_path / "src"), str(tmp_path / "out"), "--to", "jax", "--config", "no-such-preset"]
    assert main(args) == 2
    assert "'no-such-preset' (revision 'main') is not in the Hugging Face cache" in capsys.readouterr().err
