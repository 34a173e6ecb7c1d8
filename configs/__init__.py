"""Model presets (HF-style config.json files) and run configs (YAML), shipped as package data."""
