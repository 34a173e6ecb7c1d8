"""transformers' own testing patterns, run unchanged on our classes and on transformers' PyTorch ones.

Every test takes `lib`, the module the classes come from: `rembert_jax` or `transformers`. The
bodies are written the way transformers' RemBERT model tester writes them (build a config, mutate
it, `Class(config).to(torch_device).eval()`, call with torch tensors) and touch nothing but the
public API both share, so a behaviour pinned here is transformers' behaviour, checked against
transformers itself in the same run, and the "swap the import" promise cannot drift from it.
"""

from __future__ import annotations

import importlib

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

torch_device = "cpu"  # transformers.testing_utils.torch_device on this machine
ALL_CLASSES = ("RemBertModel", "RemBertForMaskedLM", "RemBertForCausalLM", "RemBertForMultipleChoice",
               "RemBertForQuestionAnswering", "RemBertForSequenceClassification", "RemBertForTokenClassification")


@pytest.fixture(params=["rembert_jax", "transformers"])
def lib(request):
    return importlib.import_module(request.param)


def ids_tensor(shape, vocab_size, seed):
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def random_attention_mask(shape, seed):
    mask = ids_tensor(shape, 2, seed)
    mask[:, 0] = 1  # every row attends somewhere
    return mask


class RemBertModelTester:
    """transformers' RemBERT tester sizes: B=13, S=7, H=32, E=18, O=43, L=2, NH=4, I=37."""

    batch_size, seq_length, vocab_size, hidden_size, num_hidden_layers = 13, 7, 99, 32, 2
    num_attention_heads, type_vocab_size, num_labels, num_choices, type_sequence_label_size = 4, 16, 3, 4, 2

    def __init__(self, lib):
        self.lib = lib

    def prepare_config_and_inputs(self):
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size, 1)
        input_mask = random_attention_mask([self.batch_size, self.seq_length], 2)
        token_type_ids = ids_tensor([self.batch_size, self.seq_length], self.type_vocab_size, 3)
        sequence_labels = ids_tensor([self.batch_size], self.type_sequence_label_size, 4)
        token_labels = ids_tensor([self.batch_size, self.seq_length], self.num_labels, 5)
        choice_labels = ids_tensor([self.batch_size], self.num_choices, 6)
        config = self.lib.RemBertConfig(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size, input_embedding_size=18,
            output_embedding_size=43, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, intermediate_size=37, hidden_act="gelu",
            hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, max_position_embeddings=512,
            type_vocab_size=self.type_vocab_size, is_decoder=False, initializer_range=0.02,
        )
        return config, input_ids, token_type_ids, input_mask, sequence_labels, token_labels, choice_labels

    def prepare_config_and_inputs_for_decoder(self):
        config, *inputs = self.prepare_config_and_inputs()
        config.is_decoder = True
        encoder_hidden_states = torch.randn(self.batch_size, self.seq_length, self.hidden_size,
                                            generator=torch.Generator().manual_seed(7))
        encoder_attention_mask = random_attention_mask([self.batch_size, self.seq_length], 8)
        return config, *inputs, encoder_hidden_states, encoder_attention_mask

    def build(self, name, config):
        torch.manual_seed(0)  # transformers initialises from torch's global generator
        return getattr(self.lib, name)(config).to(torch_device).eval()


@pytest.fixture
def tester(lib):
    return RemBertModelTester(lib)


# ------------------------------------------------------------------------- every head

def test_model(tester):
    config, input_ids, token_type_ids, input_mask, *_ = tester.prepare_config_and_inputs()
    model = tester.build("RemBertModel", config)
    model(input_ids, attention_mask=input_mask, token_type_ids=token_type_ids)
    model(input_ids, token_type_ids=token_type_ids)
    result = model(input_ids)
    assert result.last_hidden_state.shape == (tester.batch_size, tester.seq_length, tester.hidden_size)
    assert result.pooler_output.shape == (tester.batch_size, tester.hidden_size)


def test_model_as_decoder(tester):
    config, input_ids, token_type_ids, input_mask, *_, encoder_states, encoder_mask = \
        tester.prepare_config_and_inputs_for_decoder()
    config.add_cross_attention = True
    model = tester.build("RemBertModel", config)
    model(input_ids, attention_mask=input_mask, token_type_ids=token_type_ids,
          encoder_hidden_states=encoder_states, encoder_attention_mask=encoder_mask)
    model(input_ids, attention_mask=input_mask, token_type_ids=token_type_ids, encoder_hidden_states=encoder_states)
    result = model(input_ids, attention_mask=input_mask, token_type_ids=token_type_ids)
    assert result.last_hidden_state.shape == (tester.batch_size, tester.seq_length, tester.hidden_size)


def test_for_masked_lm(tester):
    config, input_ids, token_type_ids, input_mask, _, token_labels, _ = tester.prepare_config_and_inputs()
    result = tester.build("RemBertForMaskedLM", config)(input_ids, attention_mask=input_mask,
                                                          token_type_ids=token_type_ids, labels=token_labels)
    assert result.logits.shape == (tester.batch_size, tester.seq_length, tester.vocab_size)
    assert result.loss.shape == () and torch.isfinite(result.loss)


def test_for_causal_lm(tester):
    config, input_ids, token_type_ids, input_mask, _, token_labels, _, *_ = \
        tester.prepare_config_and_inputs_for_decoder()
    result = tester.build("RemBertForCausalLM", config)(input_ids, attention_mask=input_mask,
                                                          token_type_ids=token_type_ids, labels=token_labels)
    assert result.logits.shape == (tester.batch_size, tester.seq_length, tester.vocab_size)
    assert result.loss.shape == ()


def test_for_sequence_classification(tester):
    config, input_ids, token_type_ids, input_mask, sequence_labels, *_ = tester.prepare_config_and_inputs()
    config.num_labels = tester.num_labels
    model = tester.build("RemBertForSequenceClassification", config)
    result = model(input_ids, attention_mask=input_mask, token_type_ids=token_type_ids, labels=sequence_labels)
    assert result.logits.shape == (tester.batch_size, tester.num_labels)
    assert model.config.problem_type == "single_label_classification"  # resolved from the labels, written back
    assert model.config is config


def test_for_token_classification(tester):
    config, input_ids, token_type_ids, input_mask, _, token_labels, _ = tester.prepare_config_and_inputs()
    config.num_labels = tester.num_labels
    result = tester.build("RemBertForTokenClassification", config)(
        input_ids, attention_mask=input_mask, token_type_ids=token_type_ids, labels=token_labels)
    assert result.logits.shape == (tester.batch_size, tester.seq_length, tester.num_labels)


def test_for_multiple_choice(tester):
    config, input_ids, token_type_ids, input_mask, _, _, choice_labels = tester.prepare_config_and_inputs()
    config.num_choices = tester.num_choices  # an attribute no field models: kept, as transformers does
    model = tester.build("RemBertForMultipleChoice", config)

    def expand(x):
        return x.unsqueeze(1).expand(-1, tester.num_choices, -1).contiguous()

    result = model(expand(input_ids), attention_mask=expand(input_mask), token_type_ids=expand(token_type_ids),
                   labels=choice_labels)
    assert result.logits.shape == (tester.batch_size, tester.num_choices)


def test_for_question_answering(tester):
    config, input_ids, token_type_ids, input_mask, sequence_labels, *_ = tester.prepare_config_and_inputs()
    result = tester.build("RemBertForQuestionAnswering", config)(
        input_ids, attention_mask=input_mask, token_type_ids=token_type_ids, start_positions=sequence_labels,
        end_positions=sequence_labels)
    assert result.start_logits.shape == result.end_logits.shape == (tester.batch_size, tester.seq_length)


def test_decoder_model_past_with_large_inputs(tester):
    config, input_ids, _, input_mask, *_, encoder_states, encoder_mask = tester.prepare_config_and_inputs_for_decoder()
    config.add_cross_attention = True
    model = tester.build("RemBertForCausalLM", config)
    outputs = model(input_ids, attention_mask=input_mask, encoder_hidden_states=encoder_states,
                    encoder_attention_mask=encoder_mask, use_cache=True)
    next_tokens = ids_tensor((tester.batch_size, 3), config.vocab_size, 9)
    next_mask = ids_tensor((tester.batch_size, 3), 2, 10)
    next_input_ids = torch.cat([input_ids, next_tokens], dim=-1)
    next_attention_mask = torch.cat([input_mask, next_mask], dim=-1)
    without_cache = model(next_input_ids, attention_mask=next_attention_mask, encoder_hidden_states=encoder_states,
                          encoder_attention_mask=encoder_mask, output_hidden_states=True)["hidden_states"][0]
    with_cache = model(next_tokens, attention_mask=next_attention_mask, encoder_hidden_states=encoder_states,
                       encoder_attention_mask=encoder_mask, cache=outputs.cache,
                       output_hidden_states=True)["hidden_states"][0]
    assert with_cache.shape[1] == next_tokens.shape[1]
    assert torch.allclose(with_cache, without_cache[:, -3:], atol=1e-5)


# ------------------------------------------------------------------- common model checks

@pytest.mark.parametrize("name", ALL_CLASSES)
def test_determinism_and_save_load_round_trip(tester, name, tmp_path):
    config, input_ids, token_type_ids, input_mask, *_ = tester.prepare_config_and_inputs()
    config.is_decoder = name == "RemBertForCausalLM"
    model = tester.build(name, config)
    inputs = _inputs_for(name, tester, input_ids, input_mask, token_type_ids)
    before = model(**inputs)[0]
    assert torch.equal(model(**inputs)[0], before)  # eval mode: no dropout, same numbers
    model.save_pretrained(tmp_path)
    loaded = getattr(tester.lib, name).from_pretrained(tmp_path).to(torch_device)
    assert not loaded.training  # from_pretrained returns eval mode
    assert torch.allclose(loaded(**inputs)[0], before, atol=1e-5)
    assert type(loaded.config).from_pretrained(tmp_path).to_diff_dict() == loaded.config.to_diff_dict()


@pytest.mark.parametrize("name", ["RemBertModel", "RemBertForTokenClassification"])
def test_training_mode_drops_out(tester, name):
    config, input_ids, token_type_ids, input_mask, *_ = tester.prepare_config_and_inputs()
    model = tester.build(name, config)
    model.train()
    assert model.training and not torch.equal(model(input_ids)[0], model(input_ids)[0])  # dropout 0.1
    assert model.eval() is model and not model.training


@pytest.mark.parametrize("name", ["RemBertModel", "RemBertForSequenceClassification", "RemBertForQuestionAnswering"])
def test_batching_equivalence(tester, name):
    config, input_ids, token_type_ids, input_mask, *_ = tester.prepare_config_and_inputs()
    model = tester.build(name, config)
    batched = model(input_ids, attention_mask=input_mask, token_type_ids=token_type_ids)
    for row in (0, 5, tester.batch_size - 1):
        single = model(input_ids[row:row + 1], attention_mask=input_mask[row:row + 1],
                       token_type_ids=token_type_ids[row:row + 1])
        for key in single:
            assert torch.allclose(single[key][0], batched[key][row], atol=1e-5), key


def test_hidden_states_and_attentions_output(tester):
    config, input_ids, token_type_ids, input_mask, *_ = tester.prepare_config_and_inputs()
    model = tester.build("RemBertForMaskedLM", config)
    out = model(input_ids, attention_mask=input_mask, output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == tester.num_hidden_layers + 1
    assert out.hidden_states[0].shape == (tester.batch_size, tester.seq_length, tester.hidden_size)
    assert len(out.attentions) == tester.num_hidden_layers
    assert out.attentions[0].shape == (tester.batch_size, tester.num_attention_heads, tester.seq_length,
                                       tester.seq_length)
    # the config is read on every call: flip it on the built model
    assert model(input_ids).hidden_states is None
    model.config.output_hidden_states = True
    assert len(model(input_ids).hidden_states) == tester.num_hidden_layers + 1


def test_model_outputs_equivalence(tester):
    config, input_ids, token_type_ids, input_mask, _, token_labels, _ = tester.prepare_config_and_inputs()
    config.num_labels = tester.num_labels
    model = tester.build("RemBertForTokenClassification", config)
    kwargs = {"attention_mask": input_mask, "labels": token_labels, "output_hidden_states": True}
    as_dict = model(input_ids, **kwargs)
    as_tuple = model(input_ids, **kwargs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(as_dict.to_tuple()) == 3
    assert torch.equal(as_tuple[0], as_dict.loss) and torch.equal(as_tuple[1], as_dict.logits)
    assert all(torch.equal(a, b) for a, b in zip(as_tuple[2], as_dict.hidden_states, strict=True))
    model.config.return_dict = False
    assert isinstance(model(input_ids), tuple)


def test_common_attributes(tester):
    for name in ALL_CLASSES:  # class attributes, as transformers declares them
        cls = getattr(tester.lib, name)
        assert cls.main_input_name == "input_ids" and cls.can_generate() == (name == "RemBertForCausalLM")
    config, *_ = tester.prepare_config_and_inputs()
    config.is_decoder = True
    model = tester.build("RemBertForCausalLM", config)
    assert model.device == torch.device(torch_device) and model.dtype == torch.float32
    tables = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * 18
    assert model.num_parameters() - model.num_parameters(exclude_embeddings=True) == tables
    generation = model.generation_config
    assert (generation.bos_token_id, generation.eos_token_id, generation.pad_token_id) == (312, 313, 0)


def test_to_dtype_and_device(tester):
    config, input_ids, *_ = tester.prepare_config_and_inputs()
    model = tester.build("RemBertModel", config)
    assert model.to(torch.bfloat16) is model and model.dtype == torch.bfloat16
    assert model(input_ids).last_hidden_state.dtype == torch.bfloat16
    assert model.float().dtype == torch.float32 and model.cpu().device == torch.device("cpu")
    if not torch.cuda.is_available():  # both refuse a device the machine does not have
        with pytest.raises((AssertionError, RuntimeError)):
            model.to("cuda")


def test_config_accepts_at_creation_and_models_reject_a_bad_head_count(lib):
    config = lib.RemBertConfig(hidden_size=37, num_attention_heads=4, num_hidden_layers=1, vocab_size=99)
    with pytest.raises(ValueError, match=r"hidden size \(37\) is not a multiple of the number of attention heads \(4\)"):
        lib.RemBertModel(config)


# ---------------------------------------------------------------------- config (ConfigTester)

def test_config_common_properties_and_json(lib, tmp_path):
    config = lib.RemBertConfig(hidden_size=32, num_attention_heads=4, num_hidden_layers=2, vocab_size=99)
    for name, value in (("hidden_size", 64), ("num_attention_heads", 8), ("num_hidden_layers", 3)):
        setattr(config, name, value)
        assert getattr(config, name) == value
    config.num_labels = 5
    assert len(config.id2label) == 5 and len(config.label2id) == 5
    config.num_labels = 3
    assert len(config.id2label) == 3 and config.label2id == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}

    for key, value in lib.RemBertConfig(vocab_size=77).to_diff_dict().items():
        assert key == "transformers_version" or lib.RemBertConfig(vocab_size=77).to_dict()[key] == value
    assert lib.RemBertConfig.from_dict(config.to_dict()).to_diff_dict() == config.to_diff_dict()
    config.to_json_file(tmp_path / "config.json")
    assert lib.RemBertConfig.from_json_file(tmp_path / "config.json").to_diff_dict() == config.to_diff_dict()
    config.save_pretrained(tmp_path / "sub")
    assert lib.RemBertConfig.from_pretrained(tmp_path, subfolder="sub").to_diff_dict() == config.to_diff_dict()
    assert lib.RemBertConfig.sub_configs == {}


def _inputs_for(name, tester, input_ids, input_mask, token_type_ids):
    if name == "RemBertForMultipleChoice":
        def expand(x):
            return x.unsqueeze(1).expand(-1, tester.num_choices, -1).contiguous()

        return {"input_ids": expand(input_ids), "attention_mask": expand(input_mask),
                "token_type_ids": expand(token_type_ids)}
    return {"input_ids": input_ids, "attention_mask": input_mask, "token_type_ids": token_type_ids}
