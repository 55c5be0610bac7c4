"""The import contracts of pyproject.toml break when code breaks them.

The linter runs, as ``make lint`` runs it, over a stub of the project in tmp_path: an empty
module for every project module the contracts name, laid out as in the project. Empty modules
keep every contract; planted imports break the ones they should. Whether the real tree keeps
them is ``make lint``'s business.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "lint_imports.py"
CONTRACTS = {
    "pure-core": "The pure core imports no I/O",
    "feed-apart": "The Kalshi feed never imports storage, the hub or the web layer",
    "kalshi-below-client": "Nothing in kalshi/ imports kalshi_client, the way into it",
    "sim-independent": "The simulator never imports the client's wire, auth or parsing code",
    "acyclic-packages": "No import cycles between the modules of a package",
    "layers": "The top-level modules and packages depend downwards only",
}


def linter_config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config: dict[str, Any] = tomllib.load(f)["tool"]["importlinter"]
    return config


def layer_modules(layer: str) -> list[str]:
    """``"a | (b) : c"`` -> ``["a", "b", "c"]``."""
    return [name.strip().strip("()") for name in re.split(r"[|:]", layer)]


def named_modules(contract: dict[str, Any]) -> set[str]:
    names = set(contract.get("source_modules", ())) | set(contract.get("forbidden_modules", ()))
    names |= set(contract.get("ancestors", ()))
    for layer in contract.get("layers", ()):
        names |= set(layer_modules(layer))
    return names


def project_units() -> set[str]:
    """The project's top-level modules and packages, without the tests and benchmarks."""
    modules = {p.stem for p in ROOT.glob("*.py")}
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    return (modules | packages) - {"tests", "bench"}


def module_file(root: Path, name: str) -> Path:
    """Where module ``name`` lives under root, laid out as in the project."""
    top, *sub = name.split(".")
    assert len(sub) <= 1, f"the stub is two levels deep at most: {name}"
    if not (ROOT / top / "__init__.py").is_file():
        return root / f"{top}.py"
    return root / top / (f"{sub[0]}.py" if sub else "__init__.py")


def stub_project(dest: Path) -> None:
    config = linter_config()
    roots = set(config["root_packages"])
    names = set(roots)
    for contract in config["contracts"]:
        names |= {name for name in named_modules(contract) if name.split(".")[0] in roots}
    for name in sorted(names):
        path = module_file(dest, name)
        if path.parent != dest:
            path.parent.mkdir(exist_ok=True)
            (path.parent / "__init__.py").touch()
        path.touch()
    # an ignored import must exist, or the linter reports the stale ignore
    for contract in config["contracts"]:
        for ignored in contract.get("ignore_imports", ()):
            importer, imported = (name.strip() for name in ignored.split("->"))
            with module_file(dest, importer).open("a") as f:
                f.write(f"import {imported}\n")
    (dest / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())


def lint(root: Path) -> tuple[int, str]:
    # a wide console, so that rich wraps no line of the report
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, str(TOOL), "--root", str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_config_holds_the_contracts() -> None:
    config = linter_config()
    assert {c["id"]: c["name"] for c in config["contracts"]} == CONTRACTS
    # stdlib and third-party modules are in the graph, so that the pure core can forbid them
    assert config["include_external_packages"] is True
    # an import under TYPE_CHECKING is a dependency like any other, for cycles too
    assert config["exclude_type_checking_imports"] is False


def test_every_top_level_module_and_package_is_checked() -> None:
    config = linter_config()
    assert set(config["root_packages"]) == project_units()
    # the layers rule out cycles between top-level units only if they name every one
    (layers,) = (c for c in config["contracts"] if c["type"] == "layers")
    names = {name for layer in layers["layers"] for name in layer_modules(layer)}
    assert {name.split(".")[0] for name in names} == project_units()
    # a package given by its modules is given by all of them
    for package in {name.split(".")[0] for name in names if "." in name}:
        modules = {f"{package}.{p.stem}" for p in (ROOT / package).glob("*.py")}
        modules.discard(f"{package}.__init__")
        assert {name for name in names if name.startswith(f"{package}.")} == modules


def test_a_stub_of_the_project_keeps_every_contract(tmp_path: Path) -> None:
    stub_project(tmp_path)
    status, out = lint(tmp_path)
    assert status == 0, out
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in out


# module -> what is planted in it, and the line of the report that shows it
PLANTED = {
    # a pure module doing I/O
    "windows": ("import httpx", "windows -> httpx (l.1)"),
    # the feed reaching for the hub's messages
    "kalshi.feed": ("import stream.messages", "kalshi.feed -> stream.messages (l.1)"),
    # kalshi/ going through its own way in
    "kalshi.auth": ("import kalshi_client", "kalshi.auth -> kalshi_client (l.1)"),
    # the simulator parsing frames with the client's code
    "sim": ("import kalshi.frames", "sim -> kalshi.frames (l.1)"),
    # two modules of a package importing each other (which import the report would remove
    # is the linter's choice)
    "kalshi.wire": ("import kalshi.rest_wire", "No cycles are allowed in kalshi."),
    "kalshi.rest_wire": ("import kalshi.wire", "acyclic by removing 1 dependency"),
    # a cycle between top-level units closed by an import only the type checker runs
    "app": ("import web.api", "web is not allowed to import app:"),
    "web.api": (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import app",
        "web.api -> app (l.4)",
    ),
}


def test_planted_imports_break_every_contract(tmp_path: Path) -> None:
    stub_project(tmp_path)
    for module, (code, _) in PLANTED.items():
        with module_file(tmp_path, module).open("a") as f:
            f.write(code + "\n")
    status, out = lint(tmp_path)
    assert status == 1, out
    assert f"Contracts: 0 kept, {len(CONTRACTS)} broken." in out
    for name in CONTRACTS.values():
        assert f"{name} BROKEN" in out
    for _, line in PLANTED.values():
        assert line in out
