"""Test set-up shared by every test: 8 simulated CPU devices and the tiny configs.

XLA_FLAGS must be set before jax is first imported, hence at the very top of this file.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at test time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

from rembert_jax import RemBertConfig  # noqa: E402


def pytest_configure(config):
    assert jax.device_count() == 8, "tests expect 8 simulated CPU devices (XLA_FLAGS was set too late)"


@pytest.fixture(scope="session")
def tiny_config() -> RemBertConfig:
    """The `tiny` preset (transformers' RemBERT tester sizes: H=32, E=18, O=43, L=2, NH=4, I=37)."""
    return RemBertConfig.from_preset("tiny")


@pytest.fixture(scope="session")
def tiny_decoder_config(tiny_config) -> RemBertConfig:
    """The tiny preset as a decoder with cross-attention."""
    return tiny_config.replace(is_decoder=True, add_cross_attention=True)


@pytest.fixture(autouse=True)
def _session_configs_restored(tiny_config, tiny_decoder_config):
    """The adapters share the config they are built from, as transformers' models do (and write
    `problem_type` into it on a call with labels): undo whatever a test changed in the
    session-wide tiny configs, so no test sees another's edits."""
    import copy

    saved = [(config, copy.deepcopy(vars(config))) for config in (tiny_config, tiny_decoder_config)]
    yield
    for config, state in saved:
        vars(config).clear()
        vars(config).update(state)
