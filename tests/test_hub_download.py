"""Downloads of Hub ids, against a local Hub on 127.0.0.1 (`hub_server`) speaking the file-resolve
protocol huggingface_hub uses: only the files a call needs are fetched, into the standard cache layout,
and the Hub's answers (gated, private, unknown revision, unreachable) become errors that say what to do.
"""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest
from hub_fixtures import add_snapshot, add_tokenizer_repo, etag_of, saved_model
from hub_server import HubServer

import rembert_jax
import rembert_jax.convert

torch = pytest.importorskip("torch", reason="the Hub download tests save transformers models")

ALL = "tiny-org/rembert-all-formats"
SHARDED = "tiny-org/rembert-sharded"
PRIVATE = "tiny-org/private"


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_config):
    """A Hub cache to serve: a repo with safetensors, pytorch_model.bin and tf_model.h5 side by side,
    and one with sharded safetensors."""
    root = tmp_path_factory.mktemp("served")
    models = {}
    folder = root / "all"
    models[ALL] = saved_model(tiny_config, folder, seed=5)
    torch.save(models[ALL].state_dict(), folder / "pytorch_model.bin")
    h5 = root / "h5"
    saved_model(tiny_config, h5, seed=5, layout="h5")
    shutil.copy(h5 / "tf_model.h5", folder / "tf_model.h5")
    add_snapshot(root / "hub", ALL, folder, "a" * 40)
    add_snapshot(root / "hub", PRIVATE, folder, "c" * 40)
    models[SHARDED] = saved_model(tiny_config, root / "sharded", seed=6, layout="sharded")
    add_snapshot(root / "hub", SHARDED, root / "sharded", "b" * 40)
    tokenizer_repo, _ = add_tokenizer_repo(root / "hub", root / "work", tiny_config)
    return {"cache": root / "hub", "models": models, "files": {ALL: folder, SHARDED: root / "sharded"},
            "tokenizer": tokenizer_repo}


@pytest.fixture
def hub_online(served, monkeypatch):
    """The local Hub as HF_ENDPOINT, with offline mode off (conftest turns it on for every test)."""
    from huggingface_hub import constants

    server = HubServer(served["cache"], gated=("tiny-org/gated",), private=(PRIVATE,))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    with server.running():
        yield server


@pytest.fixture(scope="module")
def batch(tiny_config):
    ids = np.random.default_rng(0).integers(1, tiny_config.vocab_size, (2, 6))
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def _expected(served, repo, batch):
    with torch.no_grad():
        return served["models"][repo](input_ids=torch.tensor(batch["input_ids"])).last_hidden_state.numpy()


def test_a_pytorch_class_downloads_config_and_safetensors_only(hub_online, served, tmp_path, batch):
    model = rembert_jax.RemBertModel.from_pretrained(ALL, cache_dir=tmp_path)
    np.testing.assert_allclose(np.asarray(model(**batch).last_hidden_state), _expected(served, ALL, batch),
                               atol=1e-5)
    safetensors = etag_of((served["files"][ALL] / "model.safetensors").read_bytes())
    assert hub_online.fetched() == [f"/{ALL}/resolve/main/config.json", f"/cdn/{safetensors}"]
    asked = {path.rsplit("/", 1)[-1] for _, path in hub_online.requests}
    assert not asked & {"pytorch_model.bin", "tf_model.h5"}  # found safetensors first: never asked for these
    # The standard cache layout: the snapshot links into blobs named by ETag.
    snapshot = tmp_path / "models--tiny-org--rembert-all-formats" / "snapshots" / ("a" * 40)
    assert (snapshot / "model.safetensors").is_symlink()
    assert (tmp_path / "models--tiny-org--rembert-all-formats" / "blobs" / safetensors).is_file()
    # Cached now: loading again offline asks nothing; force_download=True fetches the same files again.
    hub_online.requests.clear()
    rembert_jax.RemBertModel.from_pretrained(ALL, cache_dir=tmp_path, local_files_only=True)
    assert hub_online.requests == []
    rembert_jax.RemBertModel.from_pretrained(ALL, cache_dir=tmp_path, force_download=True)
    assert hub_online.fetched() == [f"/{ALL}/resolve/main/config.json", f"/cdn/{safetensors}"]


def test_token_opens_a_private_repo(hub_online, served, tmp_path, batch):
    with pytest.raises(FileNotFoundError, match=rf"'{PRIVATE}' \(revision 'main'\) is not a repository on the "
                       r"Hub, or it is private: check the id, and for a private repository pass token="):
        rembert_jax.RemBertConfig.from_pretrained(PRIVATE, cache_dir=tmp_path)
    model = rembert_jax.RemBertModel.from_pretrained(PRIVATE, cache_dir=tmp_path, token=HubServer.TOKEN)
    np.testing.assert_allclose(np.asarray(model(**batch).last_hidden_state), _expected(served, ALL, batch),
                               atol=1e-5)


def test_a_tf_class_downloads_tf_model_h5_and_a_sharded_repo_only_its_shards(hub_online, served, tmp_path,
                                                                             batch):
    model = rembert_jax.TFRemBertModel.from_pretrained(ALL, cache_dir=tmp_path)
    np.testing.assert_allclose(np.asarray(model(**batch).last_hidden_state), _expected(served, ALL, batch),
                               atol=1e-5)
    h5 = etag_of((served["files"][ALL] / "tf_model.h5").read_bytes())
    assert hub_online.fetched() == [f"/{ALL}/resolve/main/config.json", f"/cdn/{h5}"]
    hub_online.requests.clear()
    config, params = rembert_jax.convert.load_pytorch(SHARDED, cache_dir=tmp_path)
    out = rembert_jax.apply(params, batch, config=config)["last_hidden_state"]
    np.testing.assert_allclose(np.asarray(out), _expected(served, SHARDED, batch), atol=1e-5)
    shards = sorted(p.name for p in served["files"][SHARDED].glob("model-*.safetensors"))
    fetched = [p.rsplit("/", 1)[-1] for p in hub_online.fetched()]
    assert len(shards) > 1 and fetched[:2] == ["config.json", "model.safetensors.index.json"]
    assert sorted(fetched[2:]) == sorted(etag_of((served["files"][SHARDED] / s).read_bytes()) for s in shards)


def test_the_hubs_refusals_say_what_to_do(hub_online, tmp_path):
    with pytest.raises(PermissionError, match=r"'tiny-org/gated' \(revision 'main'\) is a gated repository: accept "
                       r"its conditions at https://huggingface.co/tiny-org/gated and pass token="):
        rembert_jax.RemBertModel.from_pretrained("tiny-org/gated", cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"'tiny-org/no-such-repo' \(revision 'main'\) is not a repository "
                       r"on the Hub, or it is private"):
        rembert_jax.RemBertConfig.from_pretrained("tiny-org/no-such-repo", cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"the Hub repository has no revision 'v9'"):
        rembert_jax.RemBertModel.from_pretrained(ALL, cache_dir=tmp_path, revision="v9")
    with pytest.raises(FileNotFoundError, match=r"has no sentencepiece.model or tokenizer.json, so it does not hold a "
                       r"RemBERT tokenizer; it has: config.json, model.safetensors, pytorch_model.bin, tf_model.h5"):
        rembert_jax.RemBertTokenizerFast.from_pretrained(ALL, cache_dir=tmp_path)


@pytest.mark.slow  # huggingface_hub retries a refused connection 5 times with backoff (~23 s) before giving up
def test_an_unreachable_hub_names_the_cache_and_the_endpoint(hub_online, tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port on 127.0.0.1 where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(FileNotFoundError, match=rf"'{ALL}' \(revision 'main'\) is not in the Hugging Face cache at "
                       rf"{tmp_path}, and the Hub could not be reached \(http://127.0.0.1:{port}\)"):
        rembert_jax.RemBertModel.from_pretrained(ALL, cache_dir=tmp_path)


def test_a_tokenizer_downloads_its_four_files_once_each(hub_online, served, tmp_path):
    from collections import Counter

    tokenizer = rembert_jax.RemBertTokenizerFast.from_pretrained(served["tokenizer"], cache_dir=tmp_path)
    assert tokenizer("hello")["input_ids"][0] == tokenizer.cls_token_id
    resolved = Counter(path.split("/resolve/main/")[1] for _, path in hub_online.requests if "/resolve/" in path)
    assert set(resolved) == {"sentencepiece.model", "tokenizer.json", "tokenizer_config.json",
                             "special_tokens_map.json"}  # no config.json, no weights
    assert max(resolved.values()) <= 2  # one HEAD (+ one GET unless the bytes come from the CDN): asked once
