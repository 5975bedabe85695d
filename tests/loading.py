"""Loading a script of the project (bench/, scripts/) as a module, for the tests that call it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def script_module(relative_path: str) -> ModuleType:
    """The script at `relative_path` (from the project's root), executed as a fresh module. As
    when it is run, its own folder is where its imports look first (bench/ scripts import one
    another), while it loads."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import does: a dataclass looks its module up there
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module
