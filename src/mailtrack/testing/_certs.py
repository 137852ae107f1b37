"""Test certificates for :class:`~mailtrack.testing.POP3TestServer`, made with trustme.

One CA and one set of server certificates per process: generating keys is the slow part, and
hundreds of TLS test servers can share them. The PEM files live in a temporary directory that is
removed when the process exits.
"""

from __future__ import annotations

import atexit
import datetime
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import trustme

__all__ = ["CertificateKind", "ca_file", "server_context"]

#: Which certificate a test server presents.
#:
#: * ``"valid"``: issued by the test CA for ``localhost`` and ``127.0.0.1``.
#: * ``"wrong-host"``: issued by the test CA, but for ``wrong-host.invalid`` only.
#: * ``"untrusted"``: for ``localhost`` and ``127.0.0.1``, but issued by a CA nobody trusts.
#: * ``"expired"``: issued by the test CA for the right names, but expired a year ago.
CertificateKind = Literal["valid", "wrong-host", "untrusted", "expired"]

# Some clients (fetchmail) insist on a subject common name beside the subjectAltNames.
_HOSTS = ("localhost", "127.0.0.1")

_lock = threading.Lock()
_directory: Path | None = None
_ca: trustme.CA | None = None
_contexts: dict[str, ssl.SSLContext] = {}


def _trustme() -> trustme.CA:
    try:
        import trustme
    except ImportError as exc:  # pragma: no cover - trustme is installed wherever tests run
        raise ImportError(
            "POP3TestServer needs the 'trustme' package for TLS: pip install 'mailtrack[testing]'"
        ) from exc
    return trustme.CA(organization_name="mailtrack test CA")


def _workdir() -> Path:
    global _directory
    if _directory is None:
        _directory = Path(tempfile.mkdtemp(prefix="mailtrack-certs-"))
        atexit.register(shutil.rmtree, _directory, True)
    return _directory


def _test_ca() -> trustme.CA:
    global _ca
    if _ca is None:
        ca = _trustme()
        ca.cert_pem.write_to_path(str(_workdir() / "ca.pem"))
        _ca = ca
    return _ca


def ca_file() -> str:
    """The PEM file of the test CA that signs the ``valid``, ``wrong-host`` and ``expired`` certificates."""
    with _lock:
        _test_ca()
        return str(_workdir() / "ca.pem")


def server_context(kind: CertificateKind) -> ssl.SSLContext:
    """A server-side TLS context presenting a certificate of the given *kind* (shared, cached)."""
    with _lock:
        context = _contexts.get(kind)
        if context is not None:
            return context
        ca = _test_ca()
        if kind == "valid":
            leaf = ca.issue_cert(*_HOSTS, common_name=_HOSTS[0])
        elif kind == "wrong-host":
            leaf = ca.issue_cert("wrong-host.invalid", common_name="wrong-host.invalid")
        elif kind == "untrusted":
            leaf = _trustme().issue_cert(*_HOSTS, common_name=_HOSTS[0])
        elif kind == "expired":
            now = datetime.datetime.now(datetime.timezone.utc)
            leaf = ca.issue_cert(
                *_HOSTS,
                common_name=_HOSTS[0],
                not_before=now - datetime.timedelta(days=730),
                not_after=now - datetime.timedelta(days=365),
            )
        else:
            raise ValueError(f"unknown certificate kind {kind!r}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(context)
        _contexts[kind] = context
        return context
