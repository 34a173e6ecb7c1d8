"""RemBertConfig: transformers' fields and defaults, config.json round trips, transformers' assignment
manners; its frozen form: hashability and validation (when a model is built, as transformers)."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import pytest

from rembert_jax import FrozenRemBertConfig, RemBertConfig, init_params

# spec §1.1: every model-specific field with transformers' default
SPEC_DEFAULTS = {
    "vocab_size": 250300, "hidden_size": 1152, "num_hidden_layers": 32, "num_attention_heads": 18,
    "input_embedding_size": 256, "output_embedding_size": 1664, "intermediate_size": 4608, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout_prob": 0.1,
    "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
    "use_cache": True, "pad_token_id": 0, "bos_token_id": 312, "eos_token_id": 313, "is_decoder": False,
    "add_cross_attention": False, "tie_word_embeddings": False,
}

# spec §1.2: the released google/rembert config.json, stray keys included, no `architectures`
RELEASED_CONFIG = {
    "_name_or_path": "artefacts/pt_model", "attention_probs_dropout_prob": 0, "bos_token_id": 312,
    "embedding_dropout_prob": 0, "embedding_size": 256, "eos_token_id": 313, "hidden_act": "gelu",
    "hidden_dropout_prob": 0, "hidden_size": 1152, "initializer_range": 0.02, "input_embedding_size": 256,
    "intermediate_size": 4608, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "rembert",
    "num_attention_heads": 18, "num_hidden_layers": 32, "output_embedding_size": 1664, "pad_token_id": 0,
    "tie_word_embeddings": False, "transformers_version": "4.4.0.dev0", "type_vocab_size": 2, "use_cache": True,
    "vocab_size": 250300,
}

TINY_KWARGS = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
               "input_embedding_size": 18, "output_embedding_size": 43, "intermediate_size": 37,
               "max_position_embeddings": 64, "type_vocab_size": 16, "bos_token_id": 1, "eos_token_id": 2,
               "hidden_dropout_prob": 0.1, "layer_norm_eps": 1e-7}


def _field_names():
    return [f.name for f in dataclasses.fields(FrozenRemBertConfig) if f.name != "extra"]


def test_defaults_are_transformers_defaults():
    config = RemBertConfig()
    assert {k: getattr(config, k) for k in SPEC_DEFAULTS} == SPEC_DEFAULTS
    assert config.frozen().head_dim == 64 and config.num_labels == 2
    assert dict(config.id2label) == {0: "LABEL_0", 1: "LABEL_1"}


def test_defaults_equal_the_installed_transformers_config():
    import transformers

    theirs = transformers.RemBertConfig()
    for name in SPEC_DEFAULTS:
        assert getattr(RemBertConfig(), name) == getattr(theirs, name), name


def test_full_preset_is_the_released_model():
    config = RemBertConfig.from_preset("rembert")
    assert {k: getattr(config, k) for k in SPEC_DEFAULTS} == SPEC_DEFAULTS


def test_reads_a_config_json_written_by_transformers(tmp_path):
    import transformers

    transformers.RemBertConfig(**TINY_KWARGS, is_decoder=True, add_cross_attention=True,
                               num_labels=3).save_pretrained(tmp_path)
    ours = RemBertConfig.from_pretrained(tmp_path)
    for name, value in TINY_KWARGS.items():
        assert getattr(ours, name) == value, name
    assert ours.is_decoder and ours.add_cross_attention
    assert ours.num_labels == 3 and ours.id2label[2] == "LABEL_2"


def test_config_json_written_by_us_reads_back_in_transformers(tmp_path):
    import transformers

    ours = RemBertConfig(**TINY_KWARGS, is_decoder=True, id2label={0: "neg", 1: "neu", 2: "pos"},
                         problem_type="single_label_classification")
    ours.save_pretrained(tmp_path)
    theirs = transformers.RemBertConfig.from_pretrained(tmp_path)
    for name in [*TINY_KWARGS, "is_decoder", "add_cross_attention", "num_labels", "problem_type", "use_cache"]:
        assert getattr(theirs, name) == getattr(ours, name), name
    assert theirs.id2label == {0: "neg", 1: "neu", 2: "pos"} and theirs.label2id["pos"] == 2
    assert RemBertConfig.from_pretrained(tmp_path) == ours  # and back to us unchanged


def test_released_google_rembert_config_with_stray_keys(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(RELEASED_CONFIG))
    config = RemBertConfig.from_pretrained(tmp_path)
    assert {k: getattr(config, k) for k in SPEC_DEFAULTS} == SPEC_DEFAULTS
    assert config.classifier_dropout_prob == 0.1  # absent from the file: the class default
    assert config.architectures is None
    assert config.embedding_size == 256 and config.embedding_dropout_prob == 0  # stray keys, like transformers

    # Re-saved, the stray keys survive and transformers reads our file.
    assert config.name_or_path == "artefacts/pt_model"
    config.save_pretrained(tmp_path / "again")
    saved = json.loads((tmp_path / "again" / "config.json").read_text())
    assert saved["embedding_size"] == 256 and "_name_or_path" not in saved  # transformers' diff drops it too
    again = RemBertConfig.from_pretrained(tmp_path / "again")
    assert again.to_diff_dict() == config.to_diff_dict()

    import transformers

    theirs = transformers.RemBertConfig.from_pretrained(tmp_path / "again")
    assert theirs.hidden_size == 1152 and theirs.embedding_size == 256


def test_frozen_config_is_hashable_and_a_static_jit_argument():
    a, b = RemBertConfig.from_preset("tiny").frozen(), RemBertConfig.from_preset("tiny").frozen()
    assert a == b and hash(a) == hash(b)
    assert hash(a.replace(num_labels=5)) != hash(a)
    traces = []

    def f(x, config):
        traces.append(config)
        return x * config.hidden_size

    jitted = jax.jit(f, static_argnames="config")
    assert float(jitted(jnp.ones(()), config=a)) == 32.0
    jitted(jnp.ones(()), config=b)  # equal config: cached
    assert len(traces) == 1
    jitted(jnp.ones(()), config=a.replace(hidden_size=64, num_attention_heads=4))
    assert len(traces) == 2


def test_the_api_config_is_mutable_but_never_a_jit_key_and_the_frozen_one_is_immutable():
    config = RemBertConfig()
    config.hidden_size = 72
    assert config.hidden_size == 72
    with pytest.raises(TypeError, match="unhashable"):
        hash(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.frozen().hidden_size = 8


def test_frozen_is_a_copy_later_assignments_do_not_reach():
    config = RemBertConfig.from_preset("tiny")
    frozen = config.frozen()
    config.num_labels = 4
    config.is_decoder = True
    assert frozen.num_labels == 2 and not frozen.is_decoder
    assert config.frozen().num_labels == 4 and config.frozen().thaw() == config


def test_assignments_have_transformers_side_effects():
    config = RemBertConfig()
    config.num_labels = 3
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert config.label2id == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    config.id2label = {"0": "neg", "1": "pos"}  # JSON's string keys become ints
    assert config.num_labels == 2 and config.id2label == {0: "neg", 1: "pos"}
    config.torch_dtype = "bfloat16"  # the older name
    assert config.dtype == "bfloat16"
    config.my_note = "kept"  # an unknown attribute is kept and written, as transformers does
    assert config.to_diff_dict()["my_note"] == "kept"
    with pytest.raises(TypeError, match=r"RemBertConfig.hidden_size expects an int, got str"):
        config.hidden_size = "wide"
    with pytest.raises(ValueError, match="single_label_classification.*requires `num_labels > 1`"):
        RemBertConfig(num_labels=1, problem_type="single_label_classification")


def test_to_diff_dict_and_json_file_follow_transformers(tmp_path):
    import transformers

    kwargs = {**TINY_KWARGS, "num_labels": 3, "output_hidden_states": True}
    ours, theirs = RemBertConfig(**kwargs), transformers.RemBertConfig(**kwargs)
    theirs_diff = {k: v for k, v in theirs.to_diff_dict().items() if k != "transformers_version"}
    assert ours.to_diff_dict() == theirs_diff
    assert "chunk_size_feed_forward" not in ours.to_diff_dict()  # a generic field left at its default
    ours.to_json_file(tmp_path / "c.json")
    assert RemBertConfig.from_json_file(tmp_path / "c.json") == ours
    assert json.loads(ours.to_json_string(use_diff=False))["chunk_size_feed_forward"] == 0
    assert RemBertConfig.sub_configs == {} == transformers.RemBertConfig.sub_configs


def test_from_pretrained_reads_a_subfolder(tmp_path):
    RemBertConfig(**TINY_KWARGS).save_pretrained(tmp_path / "encoder")
    assert RemBertConfig.from_pretrained(tmp_path, subfolder="encoder").hidden_size == 32


def test_replace_with_num_labels_rebuilds_the_label_maps():
    config = RemBertConfig().replace(num_labels=4)
    assert config.num_labels == 4 and list(config.id2label.values())[-1] == "LABEL_3"
    assert config.label2id == {f"LABEL_{i}": i for i in range(4)}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hidden_size": 30, "num_attention_heads": 4},
     r"The hidden size \(30\) is not a multiple of the number of attention heads \(4\): hidden_size must be "
     "divisible by num_attention_heads"),
    ({"vocab_size": 0}, "vocab_size must be a positive integer, got 0"),
    ({"num_hidden_layers": 0}, "num_hidden_layers must be a positive integer, got 0"),
    ({"hidden_dropout_prob": 1.0}, r"hidden_dropout_prob must be in \[0, 1\), got 1.0"),
    ({"hidden_act": "gelu_fast"}, "hidden_act 'gelu_fast' is not supported"),
    ({"layer_norm_eps": 0.0}, "layer_norm_eps must be positive"),
    ({"add_cross_attention": True}, "add_cross_attention=True requires is_decoder=True"),
    ({"pad_token_id": 250300}, r"pad_token_id \(250300\) must be in \[0, vocab_size=250300\)"),
    ({"problem_type": "ranking"}, "problem_type 'ranking' is not one of"),
])
def test_invalid_configs_are_accepted_at_creation_and_rejected_when_a_model_is_built(kwargs, message):
    config = RemBertConfig(**kwargs)  # transformers accepts these at creation too
    with pytest.raises(ValueError, match=f"RemBertConfig: {message}"):
        config.frozen()
    with pytest.raises(ValueError, match=f"RemBertConfig: {message}"):
        init_params(config, jax.random.key(0))


def test_reading_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing' does not exist .* and is not a Hub id .* nor a preset"):
        RemBertConfig.from_pretrained(tmp_path / "missing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        RemBertConfig.from_pretrained(tmp_path / "bad.json")
    (tmp_path / "bert.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="describes model_type='bert', not 'rembert'"):
        RemBertConfig.from_pretrained(tmp_path / "bert.json")
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        RemBertConfig.from_preset("huge")


def test_every_field_survives_a_json_round_trip(tmp_path):
    config = RemBertConfig(**TINY_KWARGS, architectures=["RemBertForMaskedLM"], dtype="float32",
                           chunk_size_feed_forward=4, custom=[1, 2])
    config.save_pretrained(tmp_path)
    again = RemBertConfig.from_pretrained(tmp_path)
    assert again == config
    assert [getattr(again, n) for n in _field_names()] == [getattr(config, n) for n in _field_names()]


def test_a_failed_save_leaves_no_file_behind(tmp_path):
    config = RemBertConfig.from_preset("tiny").replace(unserialisable={1, 2})  # a set is not JSON
    with pytest.raises(TypeError, match="not JSON serializable"):
        config.save_pretrained(tmp_path)
    assert list(tmp_path.iterdir()) == []
