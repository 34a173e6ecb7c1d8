"""Every Python block of the README runs as written, in order, in one namespace (as a reader would
paste them), offline, against a Hub cache holding a tiny model with a tokenizer. The only change is
the one line the README marks: `MODEL = "google/rembert"` points at the tiny model's id."""

from __future__ import annotations

import re
from pathlib import Path

from hub_fixtures import add_tokenizer_repo

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = "# README test: the one line the tests point at a tiny model"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch, tiny_config, capsys):
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    repo_id, _ = add_tokenizer_repo(cache, tmp_path / "work", tiny_config)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # read once at import by huggingface_hub

    blocks = python_blocks(README.read_text(encoding="utf-8"))
    marked = [line for line in "\n".join(blocks).splitlines() if MARK in line]
    assert marked == [f'MODEL = "google/rembert"  {MARK}'], marked
    namespace: dict = {}
    first: dict = {}  # each name's first value: later blocks may reuse a name for another example
    for block in blocks:
        code = block.replace(marked[0], f"MODEL = {repo_id!r}")
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
        first.update({name: namespace[name] for name in ("out", "inputs", "hidden", "config")
                      if name in namespace and name not in first})
    assert first["out"].last_hidden_state.shape[:2] == first["inputs"]["input_ids"].shape
    assert first["hidden"].shape[-1] == first["config"].hidden_size
    assert namespace["out"]["last_hidden_state"].shape[:2] == namespace["ids"].shape  # the preset example
    assert "(2, " in capsys.readouterr().out
