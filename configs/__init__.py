"""Model presets (HF-style config.json files) and run configs (YAML), shipped as package data."""

from importlib import resources


def preset_names() -> tuple[str, ...]:
    """The model presets shipped here (`tiny`, `rembert`): the names of the *.json files."""
    files = resources.files(__name__).iterdir()
    return tuple(sorted(f.name[: -len(".json")] for f in files if f.name.endswith(".json")))
