"""The adapters' live config and torch-module manners that transformers' classes cannot check for
us (test_adapters_dropin.py runs the shared ones on both class sets): what recompiles, what a
weight-sizing change does, `.to()`'s argument forms and `generation_config`."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import rembert_jax
from rembert_jax.adapters import _compute as _adapter_compute
from rembert_jax.config import freeze

IDS = np.array([[5, 6, 7, 8], [9, 10, 11, 0]])


def _traces() -> int:
    return sum(_adapter_compute.TRACE_COUNTS.values())


def test_only_fields_the_computation_reads_recompile(tiny_config):
    model = rembert_jax.RemBertForMaskedLM(tiny_config.replace(), seed=0).eval()
    first = model(IDS).logits
    before = _traces()
    model.config.eos_token_id = 7  # read by generate, not by the forward pass
    model.config.architectures = ["RemBertForMaskedLM"]
    model.config.my_note = "kept"
    np.testing.assert_array_equal(model(IDS).logits, first)
    assert _traces() == before
    model.config.layer_norm_eps = 1e-3  # read by the forward pass: one new program, used at once
    changed = model(IDS).logits
    assert _traces() == before + 1 and not np.allclose(changed, first)


def test_a_field_that_sizes_the_weights_cannot_change_under_a_built_model(tiny_config):
    model = rembert_jax.RemBertForSequenceClassification(tiny_config.replace(num_labels=3), seed=0).eval()
    model.config.num_labels = 5
    with pytest.raises(ValueError, match=r"config.num_labels is 5, but this model's weights were built for "
                                         r"num_labels=3"):
        model(IDS)
    model.config.num_labels = 3
    model.config.hidden_size = 64
    with pytest.raises(ValueError, match="config.hidden_size is 64"):
        model(IDS)


def test_to_reads_torch_argument_forms(tiny_config):
    torch = pytest.importorskip("torch")
    model = rembert_jax.RemBertModel(tiny_config, seed=0).eval()
    reference = model(IDS).last_hidden_state
    cpu1 = jax.devices("cpu")[1]
    assert model.to(cpu1) is model and model.params["projection"]["kernel"].devices() == {cpu1}
    np.testing.assert_array_equal(model(IDS).last_hidden_state, reference)  # inputs follow the weights
    model.to(torch.device("cpu"))
    assert model.params["projection"]["kernel"].devices() == {jax.devices("cpu")[0]}
    model.to(torch.zeros(1, dtype=torch.float16))  # a tensor: its device and dtype
    assert model.dtype == torch.float16 and model.params["projection"]["kernel"].dtype == np.float16
    model.to(device="cpu", dtype="bf16")
    assert model.dtype == torch.bfloat16 and model.policy.compute_dtype == jax.numpy.bfloat16
    with pytest.raises(RuntimeError, match=r"device 'cuda:3': JAX has \d+ gpu device"):
        model.to("cuda:3")
    with pytest.raises(ValueError, match="'mps' has no JAX backend"):
        model.to("mps")
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.to(devices="cpu")


def test_generation_config_supplies_generate_defaults(tiny_decoder_config):
    model = rembert_jax.RemBertForCausalLM(tiny_decoder_config, seed=0).eval()
    assert model.generation_config.eos_token_id == tiny_decoder_config.eos_token_id
    ids = np.array([[5, 6, 7]])
    model.generation_config.max_new_tokens = 4
    model.generation_config.eos_token_id = []  # never stop early
    assert model.generate(ids).shape == (1, 7)
    assert model.generate(ids, max_new_tokens=2).shape == (1, 5)  # a call's argument wins


def test_generate_recompiles_only_for_fields_the_computation_reads(tiny_decoder_config):
    import importlib

    generate_module = importlib.import_module("rembert_jax.heads.generate")  # the module, not the function
    model = rembert_jax.RemBertForCausalLM(tiny_decoder_config, seed=0).eval()
    ids = np.array([[5, 6, 7]])
    first = model.generate(ids, max_new_tokens=3)
    programs = generate_module._generate._cache_size()
    model.config.id2label = {0: "a", 1: "b"}
    model.config.architectures = ["RemBertForCausalLM"]
    np.testing.assert_array_equal(model.generate(ids, max_new_tokens=3), first)
    assert generate_module._generate._cache_size() == programs
    model.config.layer_norm_eps = 1e-3  # read by the forward pass: one new program
    model.generate(ids, max_new_tokens=3)
    assert generate_module._generate._cache_size() == programs + 1


def test_generate_falls_back_to_the_model_configs_eos_token_id(tiny_decoder_config):
    model = rembert_jax.RemBertForCausalLM(tiny_decoder_config.replace(eos_token_id=None), seed=0).eval()
    ids = np.array([[5, 6, 7]])
    greedy = np.asarray(model.generate(ids, max_new_tokens=6))
    eos = int(greedy[0, 3])  # the first generated token: stopping there pads every later slot
    model.generation_config.eos_token_id = None
    model.config.eos_token_id = eos
    stopped = np.asarray(model.generate(ids, max_new_tokens=6, pad_token_id=0))
    assert stopped[0, 3] == eos and (stopped[0, 4:] == 0).all() and eos != 0
    model.config.eos_token_id = None  # no EOS anywhere: never stops (not the dataclass default id)
    np.testing.assert_array_equal(model.generate(ids, max_new_tokens=6), greedy)


def test_freeze_is_the_one_conversion_and_names_what_it_cannot_take(tiny_config):
    frozen = freeze(tiny_config)
    assert freeze(frozen) is frozen and hash(frozen) == hash(tiny_config.frozen())
    with pytest.raises(TypeError, match=r"RemBertConfig.from_dict\(config.to_dict\(\)\)"):
        freeze({"hidden_size": 32})


def test_dtype_arguments_have_one_reading():
    import jax.numpy as jnp

    from rembert_jax.adapters._device import _jax_dtype, dtype_name

    forms = [("bf16", "bf16"), ("auto", "auto"), (np.float32, "float32"), (jnp.bfloat16, "bfloat16"),
             (np.dtype("float16"), "float16")]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        forms += [(torch.bfloat16, "bfloat16"), (torch.float16, "float16"), (torch.float32, "float32")]
    for form, name in forms:
        assert dtype_name(form) == name, form
    assert _jax_dtype("bf16") == jnp.bfloat16 and _jax_dtype(np.float16) == jnp.float16
    with pytest.raises(ValueError, match="is not a dtype"):  # from_pretrained(dtype=...)'s message
        dtype_name(object())
    for wrong in (object(), "auto", np.float64):  # .to()'s message names what the weights can be
        with pytest.raises(ValueError, match="the weights can be float32, bfloat16 or float16"):
            _jax_dtype(wrong)


def test_an_adapter_call_checks_its_decoder_arguments_once(tiny_decoder_config, monkeypatch):
    from rembert_jax.adapters import _validation

    calls = []
    checked = _validation.check_decoding
    monkeypatch.setattr(_validation, "check_decoding", lambda *a, **k: calls.append(k) or checked(*a, **k))
    model = rembert_jax.RemBertForCausalLM(tiny_decoder_config, seed=0).eval()
    assert model(np.array([[5, 6, 7]]), logits_to_keep=1).logits.shape[1] == 1
    assert [k.get("logits_to_keep") for k in calls] == [1]
