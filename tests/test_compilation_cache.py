"""JAX's persistent compilation cache: where `enable_compilation_cache` and the command line put it,
that compiled programs are written there and read back, and that a bad directory is a clear error."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import rembert_jax
from rembert_jax.cli.dispatch import _use_compile_cache, build_parser, main
from rembert_jax.compilation_cache import ENV_VAR, cache_dir_from_environment

_SETTINGS = ("jax_enable_compilation_cache", "jax_compilation_cache_dir",
             "jax_persistent_cache_min_compile_time_secs", "jax_persistent_cache_min_entry_size_bytes")


@pytest.fixture(autouse=True)
def restore_jax_cache_settings():
    """Every test here changes process-wide JAX settings: put them back and close the cache."""
    from jax.experimental.compilation_cache import compilation_cache

    saved = {name: getattr(jax.config, name) for name in _SETTINGS}
    yield
    for name, value in saved.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()


def test_directory_comes_from_the_variable_then_jax_then_xdg(tmp_path):
    jax.config.update("jax_compilation_cache_dir", None)  # no JAX_COMPILATION_CACHE_DIR
    assert cache_dir_from_environment({ENV_VAR: str(tmp_path / "mine")}) == tmp_path / "mine"
    assert cache_dir_from_environment({ENV_VAR: "off", "XDG_CACHE_HOME": str(tmp_path)}) is None
    assert cache_dir_from_environment({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "rembert-jax" / "jax"
    assert cache_dir_from_environment({}) == Path.home() / ".cache" / "rembert-jax" / "jax"
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "set-for-jax"))
    assert cache_dir_from_environment({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "set-for-jax"


def test_compiled_programs_are_written_and_read_back(tmp_path):
    hits = []

    def listen(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            hits.append(event)

    directory = rembert_jax.enable_compilation_cache(tmp_path / "cache", min_compile_time_secs=0)
    assert directory == (tmp_path / "cache").resolve()
    assert directory.stat().st_mode & 0o077 == 0  # executable code: readable by its owner only

    def make_program():  # a new function each call, all named `program`, as in a new process
        def program(x):
            return jnp.tanh(x @ x.T) * 3.25 + 0.5  # a program no other test compiles

        return program

    x = jnp.ones((3, 5))
    expected = jax.jit(make_program())(x)
    assert any(directory.iterdir()), "the compiled program was not written to the cache"
    jax.monitoring.register_event_listener(listen)
    try:  # traced and lowered again (a new jit object), the executable read back from the cache
        again = jax.jit(make_program())(x)
    finally:
        jax.monitoring.unregister_event_listener(listen)
    assert hits, "the second compile of the same program did not read the cache"
    assert jnp.array_equal(again, expected)


def test_variable_off_keeps_the_library_call_off(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "off")
    before = jax.config.jax_compilation_cache_dir
    assert rembert_jax.enable_compilation_cache() is None
    assert jax.config.jax_compilation_cache_dir == before


def test_command_line_turns_the_cache_on_in_the_configured_directory(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert _use_compile_cache(build_parser().parse_args(["eval", "run.yaml"]))
    assert jax.config.jax_compilation_cache_dir == str((tmp_path / "from-env").resolve())
    assert jax.config.jax_enable_compilation_cache

    assert _use_compile_cache(build_parser().parse_args(["eval", "run.yaml", "--compile-cache", str(tmp_path / "flag")]))
    assert jax.config.jax_compilation_cache_dir == str((tmp_path / "flag").resolve())

    assert _use_compile_cache(build_parser().parse_args(["eval", "run.yaml", "--no-compile-cache"]))
    assert not jax.config.jax_enable_compilation_cache


def test_unusable_cache_directory_is_an_error_naming_it(tmp_path, capsys):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    assert main(["train", "run-config-never-read.yaml", "--compile-cache", str(not_a_directory)]) == 2
    err = capsys.readouterr().err
    assert f"compilation cache directory {not_a_directory}" in err and "--compile-cache" in err
