"""A custom import-linter contract type: no module imports a private name from another module.

import-linter's built-in contracts reason about modules (layers, cycles, private *modules*); none looks
at the names an import statement takes. `private_names` reads every `from X import name` of every module
in the graph (function-level imports included), and every attribute read off an imported module of the
root packages, and breaks on
- a private name (`_name`, not a dunder) taken from another module of the root packages, e.g.
  `from .batching import _pad_rows`, or `C._jsonable` after `from . import _common as C`; importing
  a private *submodule* (`from . import _io`, `from ._io import Reader`) is left to import-linter's
  `private_modules` contract, which allows it inside the submodule's own package;
- anything taken from a private module of another distribution (`jax._src`, `qwix._src`).
The contract's `allowed` option lists the few such lines that may stay, each the one place that leans
on it; an entry that no longer occurs breaks the contract too, so the list cannot go stale.

Registered in pyproject.toml ([tool.importlinter] contract_types); run by .ci/lint_imports.py, which puts
this folder on PYTHONPATH.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute_source(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a `from ... import` statement in `module` reads from, relative levels resolved."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _dotted(node: ast.AST) -> str | None:
    """`a.b.c` of a Name/Attribute chain, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def private_name_imports(
    module: str, source_code: str, *, is_package: bool, internal_modules: set[str], root_packages: set[str]
) -> list[tuple[int, str]]:
    """[(line, "importer -> source.name")] for every private name `module` takes from elsewhere:
    imported by name, or read as an attribute of another module (`from . import io` ... `io._x`).

    internal_modules: every module of the root packages (a `from pkg import _sub` naming one of them
    imports a module, not a name); root_packages: their top-level names (anything else is external).
    """
    found = []
    tree = ast.parse(source_code)
    module_names: dict[str, str] = {}  # local name -> the internal module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in root_packages:
                    local = alias.asname or alias.name.split(".")[0]
                    module_names[local] = alias.name if alias.asname else local
        if not isinstance(node, ast.ImportFrom):
            continue
        source = _absolute_source(node, module, is_package)
        internal = source.split(".")[0] in root_packages
        for alias in node.names:
            target = f"{source}.{alias.name}"
            if internal:
                if target in internal_modules:
                    module_names[alias.asname or alias.name] = target
                elif _is_private(alias.name) and source != module:
                    found.append((node.lineno, f"{module} -> {target}"))
            elif any(_is_private(part) for part in source.split(".")):
                found.append((node.lineno, f"{module} -> {source}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = _dotted(node.value)
            if owner is None:
                continue
            head, _, rest = owner.partition(".")
            target_module = ".".join(filter(None, [module_names.get(head), rest])) if head in module_names else None
            if target_module in internal_modules and target_module != module:
                found.append((node.lineno, f"{module} -> {target_module}.{node.attr}"))
    return sorted(set(found))


class PrivateNamesContract(Contract):
    """Options: allowed (optional) -- "importer -> module.name" or "importer -> external._module" lines
    that may stay (see the module docstring)."""

    type_name = "private_names"

    allowed = fields.SetField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        root_packages = set(self.session_options["root_packages"])
        internal = {m for m in graph.modules if m.split(".")[0] in root_packages}
        violations = []
        for module in sorted(internal):
            spec = importlib.util.find_spec(module)
            if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
                continue  # a namespace folder: no code of its own
            is_package = spec.submodule_search_locations is not None
            code = Path(spec.origin).read_text()
            violations += private_name_imports(
                module, code, is_package=is_package, internal_modules=internal, root_packages=root_packages
            )
        allowed = set(self.allowed or ())  # type: ignore[arg-type]
        stale = sorted(allowed - {link for _, link in violations})
        broken = [(line, link) for line, link in violations if link not in allowed]
        return ContractCheck(kept=not broken and not stale, metadata={"broken": broken, "stale": stale})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line, link in check.metadata["broken"]:
            output.print_error(f"{link} (l.{line}): a private name crosses modules", bold=False)
        for link in check.metadata["stale"]:
            output.print_error(f"{link}: listed in `allowed` but no longer imported; remove it", bold=False)
        output.new_line()
        output.print("Make the name public where it is defined (drop the underscore), or move the code.")
