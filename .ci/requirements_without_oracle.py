"""Print the `test` extra of pyproject.toml without the oracle packages (torch, transformers,
tensorflow), one requirement a line: what the newest-stack CI job installs next to the package.

The oracle tests build transformers/PyTorch models to compare against; on that job they are absent
and tests/conftest.py skips those tests with the reason.
"""

import re
import sys
import tomllib
from pathlib import Path

ORACLE = {"torch", "transformers", "tensorflow", "tensorflow-cpu"}

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
for requirement in project["optional-dependencies"]["test"]:
    name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()
    if name not in ORACLE:
        sys.stdout.write(requirement + "\n")
