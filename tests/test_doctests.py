"""The examples in the docstrings (``>>>``) run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import mailtrack

SOURCE = Path(mailtrack.__file__).parent


def modules_with_examples() -> list[str]:
    """Every mailtrack module whose source holds a ``>>>`` example."""
    found = []
    for module in pkgutil.walk_packages([str(SOURCE)], prefix="mailtrack."):
        relative = module.name.removeprefix("mailtrack.").replace(".", "/")
        path = SOURCE / (relative + "/__init__.py" if module.ispkg else relative + ".py")
        if ">>>" in path.read_text(encoding="utf-8"):
            found.append(module.name)
    return sorted(found)


def public_names() -> dict[str, Any]:
    """The names of ``mailtrack``, which the examples use without importing them."""
    return {name: getattr(mailtrack, name) for name in mailtrack.__all__}


def test_the_docstring_examples_are_found() -> None:
    assert {"mailtrack.importer", "mailtrack.matching", "mailtrack.classifying"} <= set(
        modules_with_examples()
    )


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name: str) -> None:
    if name.startswith("mailtrack.cli"):
        pytest.importorskip("click")
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs=public_names(), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} shows examples that doctest did not find"
    assert result.failed == 0, f"{result.failed} example(s) in {name} failed (see the output above)"
