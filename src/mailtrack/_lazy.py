"""Public names imported on first use (PEP 562), so that a program loads only what it uses.

A package whose names come from modules that some programs never need (a POP3 run into SQLite
needs neither the IMAP fetcher nor the OAuth grants nor the configuration loader) names the
module of each, and gets its module ``__getattr__`` and ``__dir__`` from :func:`lazy_exports`::

    if TYPE_CHECKING:
        from .imap import IMAPFetcher
        from .pop3 import POP3Fetcher

    __all__ = ["IMAPFetcher", "POP3Fetcher", "fetcher_for"]

    if not TYPE_CHECKING:
        __getattr__, __dir__ = lazy_exports(globals(), {"IMAPFetcher": ".imap", "POP3Fetcher": ".pop3"})

Type checkers (and readers) see the names imported under ``TYPE_CHECKING``; the module
``__getattr__`` is hidden from them, so that a misspelt name is still an error to them and not
a name of type ``Any``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the module whose ``globals()`` is *namespace*
    (``dir()`` lists the names imported so far and those of its ``__all__``).

    Args:
        namespace: the package's ``globals()``; a name, once imported, is kept there, so that
            later uses find it at once.
        exports: each lazily exported name and the module it is defined in, relative to the
            package (``".imap"``).
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace.get("__all__", ())})

    return __getattr__, __dir__
