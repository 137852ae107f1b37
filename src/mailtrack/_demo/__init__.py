"""The sample messages bundled for ``mailtrack demo``.

Each ``messages/*.eml`` file is a realistic raw message (CRLF line ends, as a POP3 server
sends them): new requests, follow-ups naming ``#ID``, HTML, attachments, an inline image,
ISO-8859-1 text, an auto-reply, a broken message, and a hostile one nested too deeply to parse
(which is quarantined).
"""

from __future__ import annotations

from importlib import resources

__all__ = ["demo_messages"]


def demo_messages() -> list[tuple[str, bytes]]:
    """The bundled messages as ``(file name, raw bytes)``, in the order a mailbox would list them."""
    folder = resources.files(__name__).joinpath("messages")
    return sorted(
        (entry.name, entry.read_bytes()) for entry in folder.iterdir() if entry.name.endswith(".eml")
    )
