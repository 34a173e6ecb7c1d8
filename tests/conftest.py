"""Test set-up shared by every test: 8 simulated CPU devices, the tiny configs, and the oracle skip.

XLA_FLAGS must be set before jax is first imported, hence at the very top of this file.

The oracle skip: tests that build transformers/PyTorch (or TensorFlow) models to compare against
import them inside the test. Where such a package is not installed at all (the newest-stack CI job
on Python 3.12 installs no torch wheel), the test is reported as skipped with that reason instead
of failing; with the package installed, every error, an ImportError included, fails as usual.
"""

import atexit
import importlib.util
import os
import shutil
import tempfile

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at test time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# `datasets` caches what its builders read; tests keep that out of the user's cache (removed at exit).
if "HF_DATASETS_CACHE" not in os.environ:
    os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="rembert-jax-tests-datasets-")
    atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)
# The command line turns JAX's persistent compilation cache on; tests never write to the user's cache.
os.environ.setdefault("REMBERT_JAX_COMPILATION_CACHE", "off")

import jax  # noqa: E402
import pytest  # noqa: E402

from rembert_jax import RemBertConfig  # noqa: E402


def pytest_configure(config):
    assert jax.device_count() == 8, "tests expect 8 simulated CPU devices (XLA_FLAGS was set too late)"


ORACLE_PACKAGES = ("torch", "transformers", "tensorflow")


def _skip_if_oracle_absent(error: ModuleNotFoundError) -> None:
    package = (error.name or "").partition(".")[0]
    if package in ORACLE_PACKAGES and importlib.util.find_spec(package) is None:
        pytest.skip(f"needs {package} (the reference implementation this test compares against), "
                    "which is not installed in this environment")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):  # module fixtures build the oracle models
    try:
        return (yield)
    except ModuleNotFoundError as e:
        _skip_if_oracle_absent(e)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except ModuleNotFoundError as e:
        _skip_if_oracle_absent(e)
        raise


@pytest.fixture(scope="session")
def tiny_config() -> RemBertConfig:
    """The `tiny` preset (transformers' RemBERT tester sizes: H=32, E=18, O=43, L=2, NH=4, I=37) with the
    tester's vocabulary of 99 too (the preset's is its tokenizer's 3000): tests draw random ids below it."""
    return RemBertConfig.from_preset("tiny").replace(vocab_size=99, bos_token_id=1, eos_token_id=2)


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
