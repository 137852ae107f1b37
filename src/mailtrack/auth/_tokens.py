"""Access tokens and the token cache: where the current access token and a rotated refresh token live.

A :class:`TokenCache` keeps one :class:`TokenState` per interface and changes it only by
compare-and-swap (:meth:`TokenCache.swap`): two workers that refresh at the same moment cannot
lose a rotated refresh token, because the second one's swap fails and it takes the first one's
state instead of writing over it.

:class:`FileTokenCache` is a JSON file created with mode 0600 and replaced atomically (written
beside it, flushed, renamed), under an advisory lock (``fcntl.flock``) that dies with the process.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from ..exceptions import ConfigError

__all__ = ["AccessToken", "FileTokenCache", "MemoryTokenCache", "TokenCache", "TokenState"]


@attrs.frozen(kw_only=True)
class AccessToken:
    """A bearer token for the mail server, with what is known about it.

    The token itself is never part of ``repr()``.
    """

    #: The bearer token sent in XOAUTH2 / OAUTHBEARER.
    value: str = attrs.field(repr=False)
    #: When it stops working (from the token endpoint's ``expires_in``), or ``None`` when unknown.
    expires_at: datetime | None = None
    #: The account it was issued for (from the ID token or the source's settings), when known.
    account: str | None = None


@attrs.frozen(kw_only=True)
class TokenState:
    """What a token cache holds for one interface. Secrets are never part of ``repr()``."""

    access_token: str | None = attrs.field(default=None, repr=False)
    #: Seconds since the epoch (UTC) when the access token expires; ``None``: unknown.
    expires_at: float | None = None
    #: The newest refresh token (a provider that rotates them returns a new one on each refresh).
    refresh_token: str | None = attrs.field(default=None, repr=False)
    account: str | None = None
    #: Bumped by every successful swap; what compare-and-swap compares.
    generation: int = 0

    def usable(self, *, margin: float, now: float | None = None) -> bool:
        """Whether the access token may still be sent (more than *margin* seconds before expiry)."""
        if not self.access_token:
            return False
        if self.expires_at is None:
            return True
        return (time.time() if now is None else now) < self.expires_at - margin

    def to_access_token(self) -> AccessToken:
        if not self.access_token:
            raise ValueError("the token state holds no access token")
        expires = None if self.expires_at is None else datetime.fromtimestamp(self.expires_at, timezone.utc)
        return AccessToken(value=self.access_token, expires_at=expires, account=self.account)

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "account": self.account,
            "generation": self.generation,
        }

    @classmethod
    def from_json(cls, data: Any) -> TokenState:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        expires = data.get("expires_at")
        return cls(
            access_token=_optional_str(data.get("access_token")),
            expires_at=float(expires) if isinstance(expires, int | float) else None,
            refresh_token=_optional_str(data.get("refresh_token")),
            account=_optional_str(data.get("account")),
            generation=int(data.get("generation") or 0),
        )


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@runtime_checkable
class TokenCache(Protocol):
    """Keeps the :class:`TokenState` of one interface between runs and between workers."""

    def load(self) -> TokenState | None:
        """The state now held, or ``None`` when there is none yet."""

    def swap(self, expected: TokenState | None, new: TokenState) -> TokenState | None:
        """Store *new* if the cache still holds *expected* (same generation; ``None``: empty).

        Returns:
            The state stored (*new* with the next generation), or ``None`` when another writer
            changed the cache first: then nothing was written, and the caller loads again.
        """

    def refreshing(self) -> contextlib.AbstractContextManager[None]:
        """Held while a new token is fetched, so that other workers wait and then take it.

        Saves a second request with a refresh token that the first one is about to rotate.
        Compare-and-swap keeps the state right even where this is no real lock.
        """


@attrs.define
class MemoryTokenCache:
    """A :class:`TokenCache` in memory (one process; for tests and host applications)."""

    _state: TokenState | None = attrs.field(default=None, alias="state")
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)
    _refresh_lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def load(self) -> TokenState | None:
        with self._lock:
            return self._state

    @contextlib.contextmanager
    def refreshing(self) -> Iterator[None]:
        with self._refresh_lock:
            yield

    def swap(self, expected: TokenState | None, new: TokenState) -> TokenState | None:
        with self._lock:
            if _generation(self._state) != _generation(expected):
                return None
            stored = attrs.evolve(new, generation=_generation(expected) + 1)
            self._state = stored
            return stored


def _generation(state: TokenState | None) -> int:
    return -1 if state is None else state.generation


@attrs.define
class FileTokenCache:
    """A :class:`TokenCache` in a JSON file, mode 0600, replaced atomically under a lock.

    Several processes (on one machine, or sharing the file over a file system with working
    ``flock``) may use the same file.

    Args:
        path: the file; its folder is created (mode 0700) when missing.
    """

    path: Path = attrs.field(converter=Path)

    def load(self) -> TokenState | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {str(self.path)!r}: {exc.strerror}") from None
        try:
            return TokenState.from_json(json.loads(text))
        except ValueError:
            raise ConfigError(
                f"the token file {str(self.path)!r} is not a mailtrack token file; sign in again "
                f"with `mailtrack oauth login`, which rewrites it"
            ) from None

    def refreshing(self) -> contextlib.AbstractContextManager[None]:
        return self._locked(".refreshing")

    def swap(self, expected: TokenState | None, new: TokenState) -> TokenState | None:
        with self._locked():
            current = self.load()
            if _generation(current) != _generation(expected):
                return None
            stored = attrs.evolve(new, generation=_generation(expected) + 1)
            self._write(stored)
            return stored

    def replace(self, new: TokenState) -> TokenState:
        """Store *new* whatever the cache holds (a fresh sign-in starts over)."""
        with self._locked():
            stored = attrs.evolve(new, generation=_generation(self.load()) + 1)
            self._write(stored)
            return stored

    @contextlib.contextmanager
    def _locked(self, suffix: str = ".lock") -> Iterator[None]:
        import fcntl

        self._folder()
        descriptor = os.open(f"{self.path}{suffix}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock; so does the death of the process

    def _folder(self) -> None:
        folder = self.path.parent
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _write(self, state: TokenState) -> None:
        data = json.dumps(state.to_json(), indent=2).encode("utf-8")
        descriptor, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
