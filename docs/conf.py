"""Sphinx configuration for the implicit-kernels API reference.

Build with ``make docs`` (``python -m sphinx -W --keep-going -b html docs docs/_build/html``). The
packages are imported for real (torch, escnn and scipy must be installed): nothing is mocked, so
a page that builds documents the code as it runs.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "implicit-kernels"
author = "the implicit-kernels authors"
copyright = "the implicit-kernels authors"
release = version = "0.1.0"

# napoleon reads the "Args:" and "Attributes:" sections of the docstrings (Google style)
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True

# Warnings fail the build (-W); unresolved cross-references are not warnings (nitpicky off), so a
# docstring may name objects that have no page of their own.
nitpicky = False

autodoc_default_options = {
    "member-order": "bysource",
    "show-inheritance": True,
}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autoclass_content = "class"
# type hints such as ``torch.Tensor | None`` stay as written instead of being resolved
autodoc_type_aliases = {}
python_use_unqualified_type_names = True
add_module_names = False

default_role = "code"
exclude_patterns = ["_build"]
templates_path = []

try:
    import furo  # noqa: F401

    html_theme = "furo"
except ImportError:
    html_theme = "alabaster"
html_title = "implicit-kernels"
html_static_path = []
