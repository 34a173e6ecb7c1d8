"""Hub ids through a real Hugging Face cache, offline (conftest sets HF_HUB_OFFLINE=1).

The cache is built by `hub_fixtures` from tiny random transformers models; transformers' own
`AutoModel` reading it proves the layout is the real one. Every entry point then loads the same id
and answers what transformers answers (fp32, <= 1e-5).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from hub_fixtures import build_cache, repo_folder

import rembert_jax
import rembert_jax.convert

ATOL = 1e-5
ADAPTERS = [name for name in rembert_jax.__all__ if name.startswith(("RemBert", "TFRemBert"))
            and "Tokenizer" not in name and name not in ("RemBertConfig", "RemBertPreTrainedModel",
                                                          "TFRemBertPreTrainedModel")]


@pytest.fixture(scope="module")
def hub(tmp_path_factory, tiny_config):
    return build_cache(tmp_path_factory.mktemp("hf"), tiny_config)


@pytest.fixture(scope="module")
def batch(tiny_config):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, tiny_config.vocab_size, (2, 7)).astype(np.int64)
    mask = np.ones((2, 7), np.int64)
    mask[1, 5:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def torch_hidden(model, batch) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model(**{k: torch.tensor(v) for k, v in batch.items()})
    return out.last_hidden_state.numpy()


def jax_hidden(config, params, batch) -> np.ndarray:
    return np.asarray(rembert_jax.apply(params, batch, config=config)["last_hidden_state"])


@pytest.fixture
def hub_cache_env(hub, monkeypatch):
    """HF_HUB_CACHE pointing at the fixture cache, for entry points without a cache_dir argument
    (huggingface_hub reads the variable once, at import: its constant is set as well)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(hub["cache"]))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub["cache"]))
    return hub["cache"]


# ---- the fixture is the real layout -------------------------------------------------------------


def test_transformers_reads_each_fixture_repo_offline(hub, batch):
    import huggingface_hub
    import transformers

    cache = hub["cache"]
    for name in ("sharded", "bin-only", "tokenizer", "two-revisions"):
        model = transformers.AutoModel.from_pretrained(hub["ids"][name], cache_dir=cache)
        reference = hub["models"]["two-main" if name == "two-revisions" else name]
        for (key, value), (_, expected) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
            np.testing.assert_array_equal(value.numpy(), expected.numpy(), err_msg=f"{name}: {key}")
    tokenizer = transformers.AutoTokenizer.from_pretrained(hub["ids"]["tokenizer"], cache_dir=cache)
    assert tokenizer("hello world")["input_ids"][0] == tokenizer.cls_token_id
    # transformers 5 has no TensorFlow: the h5-only repo is read by huggingface_hub and AutoConfig.
    h5 = huggingface_hub.hf_hub_download(hub["ids"]["h5-only"], "tf_model.h5", cache_dir=cache)
    assert os.path.islink(h5) and os.path.realpath(h5).startswith(str(repo_folder(cache, hub["ids"]["h5-only"])))
    assert transformers.AutoConfig.from_pretrained(hub["ids"]["h5-only"], cache_dir=cache).model_type == "rembert"


# ---- every entry point, one id --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sharded", "bin-only", "h5-only"])
def test_models_configs_and_loaders_read_a_hub_id_like_transformers(hub, batch, tiny_config, name):
    from rembert_jax.convert import load_keras, load_pytorch

    repo, cache = hub["ids"][name], hub["cache"]
    expected = torch_hidden(hub["models"][name], batch)
    loaded = rembert_jax.RemBertConfig.from_pretrained(repo, cache_dir=cache).to_dict()
    assert loaded.pop("transformers_version")
    assert loaded == tiny_config.replace(architectures=("RemBertModel",), dtype="float32").to_dict()
    for cls in (rembert_jax.RemBertModel, rembert_jax.TFRemBertModel):
        out = cls.from_pretrained(repo, cache_dir=cache)(**batch)
        np.testing.assert_allclose(np.asarray(out.last_hidden_state), expected, atol=ATOL, err_msg=cls.__name__)
    loader = load_keras if name == "h5-only" else load_pytorch
    config, params = loader(repo, cache_dir=cache)
    np.testing.assert_allclose(jax_hidden(config, params, batch), expected, atol=ATOL)


@pytest.mark.slow  # 14 forward compilations (~1 min on 2 CPU cores)
def test_all_fourteen_adapter_classes_load_a_hub_id(hub, batch):
    assert len(ADAPTERS) == 14, ADAPTERS
    repo, cache = hub["ids"]["sharded"], hub["cache"]
    expected = torch_hidden(hub["models"]["sharded"], batch)
    for name in ADAPTERS:
        model = getattr(rembert_jax, name).from_pretrained(repo, cache_dir=cache)
        inputs = batch
        if "MultipleChoice" in name:  # [B, C=1, S]
            inputs = {k: v[:, None] for k, v in batch.items()}
        out = model(**inputs, output_hidden_states=True)
        hidden = np.asarray(out.hidden_states[-1]).reshape(expected.shape)
        np.testing.assert_allclose(hidden, expected, atol=ATOL, err_msg=name)


def test_tokenizers_and_data_tokenizer_read_a_hub_id(hub, hub_cache_env):
    import transformers

    from rembert_jax.train.data import load_tokenizer

    repo = hub["ids"]["tokenizer"]
    texts = ["Hello world, how are you", "Привет, мир"]  # (no "?": the demo vocabulary lacks it)
    expected = transformers.AutoTokenizer.from_pretrained(repo)(texts)["input_ids"]
    for tokenizer in (rembert_jax.RemBertTokenizer.from_pretrained(repo, cache_dir=hub["cache"]),
                      rembert_jax.RemBertTokenizerFast.from_pretrained(repo, cache_dir=hub["cache"]),
                      rembert_jax.RemBertTokenizerFast.from_pretrained(repo),  # HF_HUB_CACHE
                      load_tokenizer(repo)):
        assert tokenizer(texts)["input_ids"] == expected, type(tokenizer).__name__
        assert tokenizer.name_or_path == repo


def test_train_eval_and_convert_entry_points_read_a_hub_id(hub, hub_cache_env, tmp_path, batch):
    from rembert_jax.cli import main
    from rembert_jax.convert import load_orbax
    from rembert_jax.train.run_config import RunConfig
    from rembert_jax.train.run_data import open_run_data
    from rembert_jax.train.starting_model import starting_model
    from rembert_jax.train.trained_model import load_from_weights

    repo = hub["ids"]["tokenizer"]  # vocab 3000: fits the demo data's tokenizer
    expected = torch_hidden(hub["models"]["tokenizer"], batch)
    cfg = RunConfig.from_dict({
        "task": "sequence_classification", "output_dir": str(tmp_path / "run"),
        "model": {"init_from": repo},
        "data": {"train": "demo:train.jsonl", "labels": "demo:labels.json", "tokenizer": repo, "max_length": 32,
                 "buckets": [32]},
    })
    data = open_run_data(cfg, splits=("train",))
    config, params = starting_model(cfg, data)  # model.init_from + data.tokenizer
    np.testing.assert_allclose(jax_hidden(config, params["encoder"], batch), expected, atol=ATOL)
    config, params, source = load_from_weights(cfg, repo)  # eval / predict --model
    np.testing.assert_allclose(jax_hidden(config, params["encoder"], batch), expected, atol=ATOL)
    assert main(["convert", repo, str(tmp_path / "orbax"), "--to", "jax", "--task", "base"]) == 0
    config, params = load_orbax(tmp_path / "orbax")
    np.testing.assert_allclose(jax_hidden(config, params, batch), expected, atol=ATOL)


def test_hf_hub_cache_and_offline_variables_work_in_a_fresh_process(hub, tmp_path):
    """The variables as users set them, read by huggingface_hub at import: `rembert-jax convert ID`."""
    from safetensors.numpy import load_file

    env = {**os.environ, "HF_HUB_CACHE": str(hub["cache"]), "HF_HUB_OFFLINE": "1", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": ""}
    out = tmp_path / "pt"
    result = subprocess.run([sys.executable, "-m", "rembert_jax.cli", "convert", hub["ids"]["bin-only"],
                             str(out), "--to", "pytorch"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    written = load_file(out / "model.safetensors")
    for key, value in hub["models"]["bin-only"].state_dict().items():
        np.testing.assert_array_equal(written[key], value.numpy(), err_msg=key)


# ---- revisions, cache_dir, keywords --------------------------------------------------------------


def test_revision_picks_its_snapshot(hub, batch):
    repo, cache = hub["ids"]["two-revisions"], hub["cache"]
    main, v1 = (torch_hidden(hub["models"][f"two-{r}"], batch) for r in ("main", "v1"))
    assert np.abs(main - v1).max() > 0.1
    for revision, expected in ((None, main), ("main", main), ("v1", v1), (hub["commits"]["two-v1"], v1),
                               (hub["commits"]["two-main"], main)):
        out = rembert_jax.RemBertModel.from_pretrained(repo, cache_dir=cache, revision=revision)(**batch)
        np.testing.assert_allclose(np.asarray(out.last_hidden_state), expected, atol=ATOL, err_msg=str(revision))


def test_loading_keywords_are_consumed_never_written_into_config_json(hub, tmp_path):
    repo, cache = hub["ids"]["sharded"], hub["cache"]
    keywords = {"cache_dir": cache, "revision": "main", "token": None, "local_files_only": True, "subfolder": "",
                "force_download": False, "use_auth_token": None, "trust_remote_code": False}
    model = rembert_jax.RemBertModel.from_pretrained(repo, **keywords, num_labels=4)
    config = rembert_jax.RemBertConfig.from_pretrained(repo, **keywords)
    model.save_pretrained(tmp_path / "model")
    config.save_pretrained(tmp_path / "config")
    for folder in ("model", "config"):
        saved = json.loads((tmp_path / folder / "config.json").read_text())
        assert not set(saved) & set(keywords), folder
    assert model.config.num_labels == 4  # a config override still overrides
    assert config == rembert_jax.RemBertConfig.from_json_file(
        os.path.join(repo_folder(cache, repo), "snapshots", hub["commits"]["sharded"], "config.json"))


def test_subfolder_reads_a_model_in_a_folder_of_the_repo(hub, tmp_path, batch, tiny_config):
    from hub_fixtures import add_snapshot, saved_model

    folder = tmp_path / "repo"
    model = saved_model(tiny_config, folder / "encoder", seed=21)
    add_snapshot(tmp_path / "hub", "tiny-org/nested", folder, "c" * 40)
    out = rembert_jax.RemBertModel.from_pretrained("tiny-org/nested", cache_dir=tmp_path / "hub",
                                                   subfolder="encoder")(**batch)
    np.testing.assert_allclose(np.asarray(out.last_hidden_state), torch_hidden(model, batch), atol=ATOL)


def test_dtype_keywords_set_the_compute_dtype(hub, batch):
    import jax.numpy as jnp
    import torch

    repo, cache = hub["ids"]["sharded"], hub["cache"]
    reference = torch_hidden(hub["models"]["sharded"], batch)
    cls = rembert_jax.RemBertModel
    for dtype in ("bfloat16", torch.bfloat16, jnp.bfloat16, np.dtype("float32").type(0).dtype):
        model = cls.from_pretrained(repo, cache_dir=cache, dtype=dtype)
        assert model.policy.compute_dtype == (jnp.float32 if dtype == np.float32 else jnp.bfloat16), dtype
    assert cls.from_pretrained(repo, cache_dir=cache, torch_dtype="float16").policy.compute_dtype == jnp.float16
    assert cls.from_pretrained(repo, cache_dir=cache, dtype="auto").policy.compute_dtype == jnp.float32  # config: float32
    model = cls.from_pretrained(repo, cache_dir=cache, dtype="bfloat16")
    assert model.config.dtype == "float32"  # the checkpoint's dtype, not the loading keyword
    from rembert_jax.adapters._compute import compiled_forward, compute_config

    forward = compiled_forward("base", compute_config(model.config.frozen()), model.policy, train=False,
                               output_attentions=False, output_hidden_states=False)
    program = forward.lower(model.params, {k: v.astype(np.int32) for k, v in batch.items()}, None).as_text()
    assert re.search(r"dot_general[^\n]*xbf16>, tensor<[^\n]*xbf16>", program)  # bf16 matmuls in the program
    hidden = np.asarray(model(**batch).last_hidden_state, np.float32)
    error = np.abs(hidden - reference).max()
    assert 0 < error <= 0.02 * np.abs(reference).max(), error  # really bf16 compute, within issue 2's tolerance
    with pytest.raises(ValueError, match="policy='fp32' and dtype='bfloat16' disagree"):
        cls.from_pretrained(repo, cache_dir=cache, dtype="bfloat16", policy="fp32")
    with pytest.raises(ValueError, match="dtype 'int8' is not supported"):
        cls.from_pretrained(repo, cache_dir=cache, dtype="int8")


def test_adapters_take_params_on_a_call(hub, batch):
    repo, cache = hub["ids"]["two-revisions"], hub["cache"]
    main = rembert_jax.RemBertModel.from_pretrained(repo, cache_dir=cache)
    v1 = rembert_jax.RemBertModel.from_pretrained(repo, cache_dir=cache, revision="v1")
    out = main(**batch, params=v1.params)
    np.testing.assert_allclose(np.asarray(out.last_hidden_state), torch_hidden(hub["models"]["two-v1"], batch),
                               atol=ATOL)
    np.testing.assert_allclose(np.asarray(main(**batch).last_hidden_state),
                               torch_hidden(hub["models"]["two-main"], batch), atol=ATOL)


# ---- errors that say what to do -----------------------------------------------------------------


def test_an_id_that_is_not_cached_offline_names_id_revision_cache_and_offline(tmp_path):
    empty = tmp_path / "empty-cache"
    with pytest.raises(FileNotFoundError, match=r"'google/rembert' \(revision 'v2'\) is not in the Hugging Face "
                       rf"cache at {empty}, and HF_HUB_OFFLINE is set"):
        rembert_jax.RemBertModel.from_pretrained("google/rembert", cache_dir=empty, revision="v2")
    with pytest.raises(FileNotFoundError, match=r"\(revision 'main'\) is not in the Hugging Face cache at .*, and "
                       r"local_files_only=True was passed"):
        rembert_jax.RemBertConfig.from_pretrained("google/rembert", cache_dir=empty, local_files_only=True)


def test_a_repo_without_the_needed_files_says_which_files_it_has(hub):
    with pytest.raises(FileNotFoundError, match=r"'tiny-org/rembert-sharded' \(revision 'main'\) has no "
                       r"sentencepiece.model or tokenizer.json, so it does not hold a RemBERT tokenizer; it has: "
                       r"config.json, model-00001-of-"):
        rembert_jax.RemBertTokenizerFast.from_pretrained(hub["ids"]["sharded"], cache_dir=hub["cache"])
    with pytest.raises(FileNotFoundError, match=r"has no tf_model.h5 or tf_model.h5.index.json, so it does not "
                       r"hold Keras .*; it has: config.json, pytorch_model.bin"):
        rembert_jax.convert.load_keras(hub["ids"]["bin-only"], cache_dir=hub["cache"])


# ---- presets vs the working directory (issue 15, item 8) ----------------------------------------


def test_a_folder_named_like_a_preset_needs_config_json_and_is_announced(tmp_path, monkeypatch, caplog,
                                                                        tiny_config):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()  # e.g. an output folder: no config.json, so the preset is meant
    assert rembert_jax.RemBertConfig.from_pretrained("tiny") == rembert_jax.RemBertConfig.from_preset("tiny")
    other = tiny_config.replace(num_hidden_layers=1)
    other.save_pretrained(tmp_path / "tiny")
    with caplog.at_level(logging.WARNING, logger="rembert_jax.hub"):
        assert rembert_jax.RemBertConfig.from_pretrained("tiny") == other
    assert "also the name of a preset" in caplog.text and "'preset:tiny'" in caplog.text
    caplog.clear()
    assert rembert_jax.RemBertConfig.from_pretrained("preset:tiny") == rembert_jax.RemBertConfig.from_preset("tiny")
    with caplog.at_level(logging.WARNING, logger="rembert_jax.hub"):
        assert rembert_jax.RemBertConfig.from_pretrained("./tiny") == other
    assert caplog.text == ""  # a path that says it is a path is not ambiguous
    with pytest.raises(ValueError, match="unknown preset 'huge'; available: rembert, tiny"):
        rembert_jax.RemBertConfig.from_pretrained("preset:huge")
