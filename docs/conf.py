"""Sphinx configuration for the mailtrack documentation.

Built by ``nox -s docs`` with ``-n -W``: every cross-reference must resolve, every warning fails the
build. No network is used (no intersphinx inventories are fetched).
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

project = "mailtrack"
author = "The mailtrack developers"
copyright = "2025, The mailtrack developers"
release = importlib.metadata.version("mailtrack")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"mailtrack {release}"

# Docstrings are Google style.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {"members": True, "show-inheritance": True}

# Nitpicky mode checks every reference. Without network there are no intersphinx inventories, so
# references to the standard library and third-party types cannot resolve: ignore those, and keep
# every reference to mailtrack's own names checked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!mailtrack\b).*"),
    # Private implementation modules named in docstrings.
    (r"py:.*", r"mailtrack\.(.*\.)?_.*"),
]


# Napoleon reads "text: more text" on the first line of an attribute's docstring as
# "type: description". mailtrack's attribute comments are prose: keep them as written.
_ATTRIBUTE_KINDS = frozenset({"attribute", "data", "property"})
_prose: dict[str, list[str]] = {}


def _remember_attribute_prose(
    _app: object, what: str, name: str, _obj: object, _options: object, lines: list[str]
) -> None:
    if what in _ATTRIBUTE_KINDS and lines and ":" in lines[0]:
        _prose[name] = list(lines)


def _restore_attribute_prose(
    _app: object, what: str, name: str, _obj: object, _options: object, lines: list[str]
) -> None:
    original = _prose.pop(name, None)
    if original is not None and any(line.startswith(":type:") for line in lines):
        lines[:] = original


# attrs classes show a default made by a factory as ``NOTHING`` and a default function as its
# repr (``<function utc_now>``); both say nothing to a reader, so the signature says ``…``.
_UNHELPFUL_DEFAULT = re.compile(r"=(?:NOTHING|<function [\w.]+>)")


def _readable_signature(
    _app: object,
    _what: str,
    _name: str,
    _obj: object,
    _options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    if signature is None:
        return None
    return _UNHELPFUL_DEFAULT.sub("=…", signature), return_annotation


# A class made of private parts besides a public base (SQLRecordStore: saved interfaces, leases …
# beside RecordStore) names only its public bases: the parts are where the code lives, not
# something a reader can look up.
def _public_bases(_app: object, _name: str, _obj: object, _options: object, bases: list[Any]) -> None:
    public = [base for base in bases if not _is_private(getattr(base, "__module__", ""))]
    if public:
        bases[:] = public


def _is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def setup(app: Any) -> None:
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-signature", _readable_signature)
    # Napoleon rewrites docstrings at priority 500: look before and after it.
    app.connect("autodoc-process-docstring", _remember_attribute_prose, priority=400)
    app.connect("autodoc-process-docstring", _restore_attribute_prose, priority=600)
