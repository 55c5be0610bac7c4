"""Run import-linter over the tree, the top-level modules included.

import-linter (through grimp) takes only packages as root packages, and Flowboard keeps real
code in top-level modules (``app.py``, ``models.py``, ...), as asked for. So the contracts in
``[tool.importlinter]`` are checked against a copy of the tree made in a temporary directory,
where each top-level module ``name.py`` becomes the package ``name/__init__.py``. Module names,
imports and line numbers stay the same, and the linter sees every root package as internal.

    python tools/lint_imports.py [--root DIR] [--config FILE] [--contract ID]... [--verbose]

Exits 0 when every contract is kept, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def root_packages(config: Path) -> list[str]:
    with config.open("rb") as f:
        names = tomllib.load(f)["tool"]["importlinter"]["root_packages"]
    return [str(name) for name in names]


def mirror(root: Path, names: list[str], dest: Path) -> None:
    """Copy each root package from root into dest; a single-file module becomes a package."""
    for name in names:
        package = root / name
        module = root / f"{name}.py"
        if (package / "__init__.py").is_file():
            shutil.copytree(package, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif module.is_file():
            (dest / name).mkdir()
            shutil.copyfile(module, dest / name / "__init__.py")
        else:
            raise SystemExit(f"root package {name!r}: neither {module} nor a package in {root}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree to check")
    parser.add_argument("--config", type=Path, help="default: ROOT/pyproject.toml")
    parser.add_argument("--contract", action="append", default=[], help="check only this id")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    config: Path = (args.config or root / "pyproject.toml").resolve()
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="lint-imports-") as tmp:
        mirror(root, root_packages(config), Path(tmp))
        # lint_imports puts the working directory first on sys.path: the copy, not the tree
        # nor an editable install, is what the root packages resolve to.
        os.chdir(tmp)
        try:
            return lint_imports(
                config_filename=str(config),
                limit_to_contracts=tuple(args.contract),
                no_cache=True,
                no_logo=True,
                verbose=args.verbose,
            )
        finally:
            os.chdir(cwd)


if __name__ == "__main__":
    raise SystemExit(main())
