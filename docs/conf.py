"""Sphinx configuration: the API reference (every public name, generated from the
package's ``__all__`` lists at build time), the guides in this folder (MyST Markdown) and
the notebooks with their committed outputs (MyST-NB, not executed).

Build: ``pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html``.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

project = "gradtx"
author = "the gradtx developers"
copyright = "2026, the gradtx developers"  # noqa: A001

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
nb_execution_mode = "off"  # the notebooks are committed with their outputs
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "myst.xref_missing", "misc.highlighting_failure"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "alabaster"
html_title = "gradtx"

# --- generated at build time -------------------------------------------------------------
# API pages: one per public namespace; each object is documented once (names re-exported
# under a second namespace are listed there as links).
API = [
    ("gradtx", "The top-level package: optimisers, building blocks, wrappers, training tools"),
    ("gradtx.schedules", "Learning-rate schedules (pytrees) and injected hyperparameters"),
    ("gradtx.contrib", "Research optimisers (as optax.contrib)"),
    ("gradtx.tree", "Tree utilities and the moment math (gradtx.tree_utils: optax's names)"),
    ("gradtx.native", "The native CPU kernel behind gradtx.make_step"),
]


def _write_api_pages() -> None:
    out = HERE / "api"
    out.mkdir(exist_ok=True)
    seen: dict[object, str] = {}
    toc = []
    for modname, title in API:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError:
            continue
        lines = [f"``{modname}``", "=" * (len(modname) + 4), "", title + ".", "",
                 f".. currentmodule:: {modname}", ""]
        again = []
        for name in sorted(getattr(mod, "__all__", [])):
            obj = getattr(mod, name)
            if inspect.ismodule(obj):
                continue
            is_alias = getattr(obj, "__module__", "") in ("typing", "types")  # Params = Any
            key = id(obj) if (inspect.isclass(obj) or callable(obj)) and not is_alias else name
            if key in seen:
                again.append(f"``{name}`` (see :any:`{seen[key]}`)")
                continue
            if is_alias:
                directive, opts = "autodata", ["   :no-value:"]
            elif inspect.isclass(obj):
                directive = "autoclass"
                opts = ["   :members:"] if hasattr(obj, "__dict__") and name == "MultiSteps" else []
            elif callable(obj):
                directive, opts = "autofunction", []
            else:
                directive, opts = "autodata", ["   :no-value:"]
            seen[key] = f"{modname}.{name}"
            lines += [f".. {directive}:: {name}", *opts, ""]
        if again:
            lines += ["Also here, documented above:", ""] + [f"- {a}" for a in again] + [""]
        page = modname.replace(".", "_")
        (out / f"{page}.rst").write_text("\n".join(lines))
        toc.append(f"   {page}")
    (out / "index.rst").write_text("\n".join(
        ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", "", *toc, ""]))


def _copy_notebooks() -> None:
    dst = HERE / "notebooks"
    dst.mkdir(exist_ok=True)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(nb, dst / nb.name)


_write_api_pages()
_copy_notebooks()
