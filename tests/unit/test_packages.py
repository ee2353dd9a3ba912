"""Each package states its public names: every module of core, schemas, consumers, streams and
sandbox defines ``__all__``; every name in it exists; and every public function or class the module
defines itself (not one it imports) is listed.

The rule, where the code asks for one:
* a name that starts with ``_`` is private and need not be listed;
* aiohttp handlers registered on a module's ``RouteTableDef`` are reached through that table (which
  is listed), not by name, so they need not be listed;
* ``__main__`` modules are entry points, never imported, so they are not walked (importing one
  would start what it runs).

Every package also ships ``py.typed``, so that its types reach the code that imports it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp import web

PACKAGES = ("core", "schemas", "consumers", "streams", "sandbox")


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        names.append(package)
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.rpartition(".")[2] != "__main__":
                names.append(info.name)
    return names


def _routed(module: ModuleType) -> set[object]:
    """The handlers registered on the module's aiohttp route tables."""
    handlers: set[object] = set()
    for value in vars(module).values():
        if isinstance(value, web.RouteTableDef):
            handlers |= {route.handler for route in value if isinstance(route, web.RouteDef)}
    return handlers


def _defined_here(module: ModuleType) -> list[str]:
    routed = _routed(module)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
        and value not in routed
    ]


@pytest.mark.parametrize("name", _modules())
def test_the_module_lists_its_public_names_in_all(name: str) -> None:
    module = importlib.import_module(name)
    listed = getattr(module, "__all__", None)
    assert isinstance(listed, list | tuple), f"{name} defines no __all__"
    assert [n for n in listed if not hasattr(module, n)] == [], f"{name}.__all__ names what it lacks"
    assert len(set(listed)) == len(listed), f"{name}.__all__ repeats a name"
    unlisted = [n for n in _defined_here(module) if n not in listed]
    assert unlisted == [], f"{name} defines public names its __all__ leaves out"


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_ships_its_types(package: str) -> None:
    root = importlib.import_module(package)
    assert root.__file__ is not None
    assert (Path(root.__file__).parent / "py.typed").is_file()
