"""A real Hugging Face cache, built offline: tiny random transformers models laid out as
`models--org--name/{blobs,refs,snapshots}` with relative symlinks into content-addressed blobs,
exactly as `huggingface_hub.hf_hub_download` leaves them (blob names are the files' ETags: the
git blob sha1 of small files, the sha256 of LFS files).

    sharded       transformers' save_pretrained with a small max_shard_size: safetensors shards + index
    bin-only      pytorch_model.bin (torch.save of the state dict, as transformers 4 wrote it)
    h5-only       tf_model.h5 written by our Keras writer (transformers 5 has no TensorFlow)
    tokenizer     a model plus the demo tokenizer in google/rembert's tokenizer file set
    two-revisions main -> one commit, tag v1 -> another, with different weights

Import torch/transformers only inside the functions.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from rembert_jax import RemBertConfig

ORG = "tiny-org"
LFS_THRESHOLD = 10_000  # bytes: the Hub stores weights in LFS (ETag = sha256), small text in git (sha1)


def repo_folder(cache: Path, repo_id: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


def etag_of(data: bytes) -> str:
    """The ETag the Hub sends for a file: sha256 for LFS files, the git blob sha1 otherwise."""
    if len(data) >= LFS_THRESHOLD:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def add_snapshot(cache: Path, repo_id: str, files: Path, commit: str, refs: tuple[str, ...] = ("main",)) -> Path:
    """Lay out every file under `files` as snapshot `commit` of `repo_id`; point `refs` at it."""
    repo = repo_folder(cache, repo_id)
    snapshot = repo / "snapshots" / commit
    for source in sorted(p for p in files.rglob("*") if p.is_file()):
        data = source.read_bytes()
        blob = repo / "blobs" / etag_of(data)
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / source.relative_to(files)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes it
    return snapshot


def commit_hash(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def saved_model(config: RemBertConfig, folder: Path, *, seed: int = 0, layout: str = "safetensors"):
    """Save a seeded random transformers RemBertModel into `folder` in `layout`; return the model."""
    import torch
    from hf_reference import hf_model

    model = hf_model(config, "base", seed=seed)
    if layout == "sharded":
        model.save_pretrained(folder, max_shard_size="20KB")
        assert (folder / "model.safetensors.index.json").is_file()
    else:
        model.save_pretrained(folder)
    if layout == "bin":
        (folder / "model.safetensors").unlink()
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    if layout == "h5":
        from rembert_jax.convert import load_pytorch, save_keras

        ours, params = load_pytorch(folder)
        staging = folder.parent / (folder.name + "-h5")
        save_keras(staging, ours, params)
        (folder / "model.safetensors").unlink()
        shutil.copy(staging / "tf_model.h5", folder / "tf_model.h5")
        shutil.rmtree(staging)
    return model


def add_tokenizer_repo(cache: Path, work: Path, config: RemBertConfig) -> tuple[str, object]:
    """A model with the demo tokenizer (vocab 3000) in google/rembert's file set: sentencepiece.model,
    tokenizer.json, tokenizer_config.json, special_tokens_map.json. (transformers 5 writes a
    tokenizer.json without the special-token template, which only transformers 5 itself completes.)
    Returns (repo id, the transformers model)."""
    from rembert_jax import RemBertTokenizerFast
    from rembert_jax.train.data.files import DEMO_DIR

    folder = work / "tokenizer"
    model = saved_model(config.replace(vocab_size=3000), folder, seed=7)
    RemBertTokenizerFast.from_pretrained(DEMO_DIR).save_pretrained(folder)
    repo_id = f"{ORG}/rembert-with-tokenizer"
    add_snapshot(cache, repo_id, folder, commit_hash("tokenizer"))
    return repo_id, model


def build_cache(root: Path, config: RemBertConfig) -> dict:
    """Every fixture repo in one cache at `root / "hub"`; returns ids, models and commits by name."""
    cache, work = root / "hub", root / "work"
    out: dict = {"cache": cache, "ids": {}, "models": {}, "commits": {}}
    for name, layout in (("sharded", "sharded"), ("bin-only", "bin"), ("h5-only", "h5")):
        folder = work / name
        out["models"][name] = saved_model(config, folder, seed=len(name), layout=layout)
        out["ids"][name] = f"{ORG}/rembert-{name}"
        out["commits"][name] = commit_hash(name)
        add_snapshot(cache, out["ids"][name], folder, out["commits"][name])

    out["ids"]["tokenizer"], out["models"]["tokenizer"] = add_tokenizer_repo(cache, work, config)
    out["commits"]["tokenizer"] = commit_hash("tokenizer")

    # Two snapshots of one repo: main and the tag v1 hold different weights.
    repo_id = out["ids"]["two-revisions"] = f"{ORG}/rembert-two-revisions"
    for revision, seed in (("main", 11), ("v1", 12)):
        folder = work / f"two-{revision}"
        out["models"][f"two-{revision}"] = saved_model(config, folder, seed=seed)
        out["commits"][f"two-{revision}"] = commit_hash(f"two-{revision}")
        add_snapshot(cache, repo_id, folder, out["commits"][f"two-{revision}"], refs=(revision,))
    shutil.rmtree(work)
    return out
