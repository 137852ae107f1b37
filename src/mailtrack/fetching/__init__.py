"""Fetchers: where messages come from. :class:`POP3Fetcher` is the default."""

from __future__ import annotations

from .pop3 import POP3Fetcher

__all__ = ["POP3Fetcher"]
