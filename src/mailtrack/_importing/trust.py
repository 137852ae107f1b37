"""Trusted senders: colleagues and agents who may write into any record of the project.

A sender is trusted only when the interface lists them (:attr:`ImportPolicy.trusted_senders
<mailtrack.ImportPolicy.trusted_senders>`: addresses, or domains as ``@example.com``) **and** the
host's own mail server vouches for the From address: the first ``Authentication-Results`` header
(RFC 8601) whose ``authserv-id`` is one of :attr:`~mailtrack.ImportPolicy.authserv_ids` says
``dmarc=pass`` for the sender's domain, or ``dkim=pass`` with a signing domain aligned with it
(the same domain or a parent of it). The From header alone proves nothing: anybody can write it.
Only the first header of your server counts, as your server adds it on top of whatever the
message brought along. ``trust_unauthenticated = true`` skips the check (unsafe).
"""

from __future__ import annotations

import re

from ..config import ImportPolicy
from ..models import IncomingMessage

__all__ = ["trust_verdict"]

_COMMENT = re.compile(r"\([^()]*\)")
_PROPERTY = re.compile(r"([a-z0-9._-]+)\s*=\s*\"?([^\s\";]*)\"?", re.IGNORECASE)
# Hostile mail can carry many Authentication-Results headers; ours is on top.
_MAX_RESULTS_HEADERS = 20


def _listed(address: str, policy: ImportPolicy) -> bool:
    domain = address.rpartition("@")[2]
    for entry in policy.trusted_senders:
        entry = entry.strip().lower()
        if entry.startswith("@") and entry[1:] == domain:
            return True
        if entry == address:
            return True
    return False


def _aligned(signing_domain: str, domain: str) -> bool:
    signing_domain = signing_domain.strip().lower().rstrip(".")
    return bool(signing_domain) and (domain == signing_domain or domain.endswith("." + signing_domain))


def _our_results(message: IncomingMessage, policy: ImportPolicy) -> list[str] | None:
    """The result clauses of the first Authentication-Results header of our own server."""
    ours = {authserv_id.strip().lower() for authserv_id in policy.authserv_ids}
    for value in message.header_fields.get("authentication-results", ())[:_MAX_RESULTS_HEADERS]:
        clauses = _COMMENT.sub(" ", value).split(";")
        head = clauses[0].split()
        if head and head[0].lower() in ours:
            return [clause.strip().lower() for clause in clauses[1:]]
    return None


def _vouched(clauses: list[str], domain: str) -> bool:
    for clause in clauses:
        method, _, rest = clause.partition("=")
        result = rest.split()[0] if rest.split() else ""
        if result != "pass":
            continue
        properties = dict((name.lower(), value) for name, value in _PROPERTY.findall(rest))
        if method.strip() == "dmarc" and properties.get("header.from", "") == domain:
            return True
        if method.strip() == "dkim" and _aligned(properties.get("header.d", ""), domain):
            return True
    return False


def trust_verdict(message: IncomingMessage, policy: ImportPolicy) -> tuple[bool, str | None]:
    """Whether the sender is a trusted sender, and (for a listed sender) why or why not.

    Returns:
        ``(trusted, words)``; *words* is ``None`` for a sender the policy does not list.
    """
    address = message.sender.address.strip().lower() if message.sender is not None else ""
    if not address or not policy.trusted_senders or not _listed(address, policy):
        return False, None
    if policy.trust_unauthenticated:
        return True, f"{address} is a trusted sender (trust_unauthenticated: the From header is not checked)"
    clauses = _our_results(message, policy)
    if clauses is None:
        return False, (
            f"{address} is listed as trusted, but no Authentication-Results header of "
            f"{', '.join(policy.authserv_ids) or 'a configured authserv_ids'} vouches for it"
        )
    domain = address.rpartition("@")[2]
    if _vouched(clauses, domain):
        return True, f"{address} is a trusted sender (your mail server's DMARC/DKIM check passed)"
    return (
        False,
        f"{address} is listed as trusted, but your mail server's DMARC/DKIM check did not pass for {domain}",
    )
