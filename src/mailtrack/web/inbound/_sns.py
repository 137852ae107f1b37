"""Amazon SNS message signatures: the signing certificate is fetched only from SNS itself
(``https://sns.<region>.amazonaws.com/….pem``, a real region's name: not an S3 bucket's host such
as ``sns.s3.amazonaws.com``), never from another host a request names, and kept; a certificate
must name ``sns.amazonaws.com`` (or its own host); a fetch that failed is not tried again for a
minute; the signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) is checked over the
fields SNS signs, in its order.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["HttpGet", "SNSVerifier", "https_get", "is_sns_url", "string_to_sign"]

#: ``http_get(url) -> bytes``: the body of an HTTPS GET (raises OSError when it fails).
HttpGet = Callable[[str], bytes]

#: SNS's hosts: ``sns.REGION.amazonaws.com``, a region named as AWS names them (``us-east-1``,
#: ``us-gov-west-1``, ``ap-southeast-2``), the China regions under ``amazonaws.com.cn``. A label
#: such as ``s3`` or ``s3-us-west-2`` (S3 buckets anyone can name ``sns``) does not match.
_SNS_HOST = re.compile(
    r"sns\.(?:[a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}\.amazonaws\.com|cn-[a-z]+-\d{1,2}\.amazonaws\.com\.cn)"
)

#: The name an SNS signing certificate is issued to.
_SNS_CERT_NAME = "sns.amazonaws.com"

#: Seconds a failed certificate fetch (or a certificate refused) is remembered, so that requests
#: naming it make no new fetch meanwhile.
FAILURE_TTL = 60.0


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: a certificate URL that redirects could lead to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


#: The fields SNS signs, in order, by message type (a field the message lacks is left out).
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}

#: Largest certificate (or confirmation answer) read.
_ANSWER_LIMIT = 256 * 1024


def is_sns_url(url: str, *, suffix: str = "") -> bool:
    """Whether *url* is an ``https://`` URL of the SNS service (``sns.REGION.amazonaws.com``),
    its path ending in *suffix*."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and port in (None, 443)
        and parts.username is None
        and _SNS_HOST.fullmatch(parts.hostname or "") is not None
        and parts.path.endswith(suffix)
    )


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The text SNS signs for *message* (``Name\\nvalue\\n`` for each signed field).

    Raises:
        ValueError: the message type is unknown or a field is not text.
    """
    fields = _SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise ValueError(f"unknown SNS message type {message.get('Type')!r}")
    parts = []
    for name in fields:
        if name not in message:
            continue
        value = message[name]
        if not isinstance(value, str):
            raise ValueError(f"the SNS field {name} is not text")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def https_get(url: str, *, timeout: float = 10.0) -> bytes:
    """GET an ``https://`` URL (TLS verified against the system's trust store, no redirects
    followed, at most 256 KiB read)."""
    if not url.startswith("https://"):
        raise OSError(f"refusing to fetch {url!r}: not https")
    opener = urllib.request.build_opener(NoRedirect)
    with opener.open(url, timeout=timeout) as answer:
        data: bytes = answer.read(_ANSWER_LIMIT + 1)
    if len(data) > _ANSWER_LIMIT:
        raise OSError(f"the answer of {url} is larger than {_ANSWER_LIMIT} bytes")
    return data


def _certificate_key(pem: bytes, host: str) -> Any:
    """The public key of the certificate *pem*, or why it is not SNS's (a ``str``): it must name
    ``sns.amazonaws.com`` or *host* (its subject's common name or a DNS name it is issued to).

    Raises:
        ValueError: *pem* is not a certificate.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    certificate = x509.load_pem_x509_certificate(pem)
    names = {
        str(attribute.value).lower()
        for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    }
    try:
        alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        names.update(name.lower() for name in alternative.value.get_values_for_type(x509.DNSName))
    if not names & {_SNS_CERT_NAME, host.lower()}:
        return "the signing certificate is not issued to sns.amazonaws.com"
    return certificate.public_key()


class SNSVerifier:
    """Checks SNS message signatures; keeps the certificates it fetched (by URL, at most 32)."""

    def __init__(self, http_get: HttpGet = https_get, clock: Callable[[], float] = time.monotonic) -> None:
        self._http_get = http_get
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._failures: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _key(self, url: str) -> Any:
        """The public key of the certificate at *url*, fetched once; a ``str`` says why not."""
        with self._lock:
            key = self._keys.get(url)
            failure = self._failures.get(url)
        if key is not None:
            return key
        now = self._clock()
        if failure is not None and failure[0] > now:
            return failure[1]
        try:
            found = _certificate_key(self._http_get(url), urllib.parse.urlsplit(url).hostname or "")
        except (OSError, ValueError) as exc:
            found = f"the signing certificate could not be fetched or read: {exc}"
        with self._lock:
            if isinstance(found, str):
                if len(self._failures) >= 256:
                    self._failures = {u: f for u, f in self._failures.items() if f[0] > now}
                    if len(self._failures) >= 256:
                        self._failures.clear()
                self._failures[url] = (now + FAILURE_TTL, found)
            else:
                if len(self._keys) >= 32:
                    self._keys.clear()
                self._keys[url] = found
        return found

    def problem(self, message: Mapping[str, Any]) -> str | None:
        """Why *message* is not a genuine SNS message, or ``None`` when its signature holds."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        url = message.get("SigningCertURL")
        if not isinstance(url, str) or not is_sns_url(url, suffix=".pem"):
            return "SigningCertURL is not an https://sns.<region>.amazonaws.com/….pem URL"
        version = message.get("SignatureVersion")
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # noqa: S303 - SNS's SignatureVersion 1 is SHA1withRSA
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            return f"unknown SignatureVersion {version!r}"
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
            signed = string_to_sign(message)
        except (binascii.Error, ValueError) as exc:
            return f"the message cannot be checked: {exc}"
        key = self._key(url)
        if isinstance(key, str):
            return key
        if not isinstance(key, rsa.RSAPublicKey):
            return "the signing certificate holds no RSA key"
        try:
            key.verify(signature, signed, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            return "the signature does not match"
        return None

    def visit(self, url: str) -> None:
        """Visit a SubscribeURL (only one of the SNS service) to confirm a subscription.

        Raises:
            OSError: the URL is not SNS's, or the visit failed.
        """
        if not is_sns_url(url):
            raise OSError("the SubscribeURL is not an https://sns.<region>.amazonaws.com/ URL")
        self._http_get(url)
