"""The architecture's one-way flow: the library never imports the CLI, the web app or Flask."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, zhsearch_env

# Imports every module of the library in a fresh interpreter and lists the outer layers loaded.
_PROBE = """
import pkgutil, importlib, sys
import search
for module in pkgutil.walk_packages(search.__path__, "search."):
    importlib.import_module(module.name)
print(sorted({name.split(".")[0] for name in sys.modules} & {"web", "zhsearch", "flask", "click"}))
"""


def test_the_library_imports_no_outer_layer() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                            cwd=ROOT, env=zhsearch_env(), timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
