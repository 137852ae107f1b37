"""The benchmark's mailbox: a seeded, realistic mix of help-desk mail.

``generate(n, seed)`` always returns the same bytes for the same ``(n, seed)``. The mix:

* 61 % short plain-text mail (1-4 KB, a quoted reply below, some subjects naming ``#1234``),
* 25 % ``multipart/alternative`` text + HTML (5-30 KB),
* 10 % ``multipart/mixed`` with 1-3 attachments (1.9 on average) of 50 KB - 2 MB each (log-uniform, base64),
* 4 % odd charsets and transfer encodings (ISO-8859-1, windows-1252, KOI8-R, Shift_JIS;
  RFC 2047 subjects; quoted-printable, base64 and 8-bit bodies).

1,000 messages come to about 138 MB. Messages have LF line ends, as in a Maildir; the server
sends them with CRLF. ``cached(n, seed)`` writes them once under the cache folder and reuses them.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timedelta, timezone
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

__all__ = ["KINDS", "Mailbox", "cached", "generate"]

KINDS = ("plain", "html", "attachments", "odd")
#: Share of each kind, in per cent; every mailbox has exactly these shares (rounded), shuffled.
_SHARES = {"plain": 61, "html": 25, "attachments": 10, "odd": 4}

_VOCABULARY = [
    "printer",
    "invoice",
    "order",
    "delivery",
    "account",
    "ticket",
    "support",
    "server",
    "update",
    "release",
    "meeting",
    "report",
    "customer",
    "contract",
    "attached",
    "please",
    "thanks",
    "regards",
    "review",
    "deadline",
    "project",
    "status",
    "payment",
    "reminder",
    "backup",
    "database",
    "migration",
    "password",
    "reset",
    "confirm",
    "request",
    "quote",
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "that",
    "it",
    "for",
    "not",
    "on",
    "with",
    "as",
    "you",
    "do",
    "at",
    "this",
    "but",
    "by",
    "from",
    "they",
    "we",
    "say",
    "or",
    "will",
    "one",
    "all",
    "would",
    "there",
    "what",
    "so",
    "up",
    "out",
    "if",
    "about",
    "who",
    "get",
    "which",
    "go",
    "when",
    "make",
    "can",
    "like",
    "time",
    "no",
    "just",
    "know",
    "take",
    "people",
    "into",
    "year",
    "your",
    "good",
    "some",
    "could",
    "them",
    "see",
    "other",
    "than",
    "then",
    "now",
    "look",
    "only",
    "come",
    "over",
    "think",
    "also",
    "back",
    "after",
    "use",
    "two",
    "how",
    "our",
    "work",
    "first",
    "well",
    "way",
    "even",
    "new",
    "want",
    "because",
    "any",
    "these",
    "give",
    "day",
    "most",
]
_FIRST = [
    "Alice",
    "Bruno",
    "Chiara",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Keiko",
    "Lars",
    "Mona",
    "Nadia",
    "Omar",
    "Pia",
]
_LAST = [
    "Ahmed",
    "Becker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fujita",
    "Garcia",
    "Horvat",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Laine",
    "Moreau",
]
_DOMAINS = ("customer.example", "example.org", "shop.example.net", "mail.example.com", "corp.example")
_ODD = {
    "iso-8859-1": "Grüße aus Köln! Die Lieferung für Frau Müller ist unterwegs. Größe, Maß, Straße.",
    "windows-1252": "Tarif : 49 € - livraison « express » prévue jeudi. Merci, Françoise.",
    "koi8-r": "Добрый день! Счёт номер 5521 оплачен. Пожалуйста, подтвердите получение заказа.",
    "shift_jis": "いつもお世話になっております。見積書を添付いたします。ご確認をお願いいたします。",
}
_START = datetime(2024, 1, 1, tzinfo=timezone.utc)
_LF = policy.default.clone(linesep="\n")
_COMPAT_LF = policy.compat32.clone(linesep="\n")


class _Writer:
    """Draws every choice from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def words(self, count: int) -> str:
        return " ".join(self.rng.choice(_VOCABULARY) for _ in range(count))

    def text(self, size: int, prefix: str = "") -> str:
        """About *size* characters of wrapped text, lines starting with *prefix*."""
        lines: list[str] = []
        total = 0
        while total < size:
            line = prefix + self.words(self.rng.randint(6, 12))
            lines.append(line)
            total += len(line) + 1
            if self.rng.random() < 0.1:
                lines.append("")
        return "\n".join(lines) + "\n"

    def person(self) -> tuple[str, str]:
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        return f"{first} {last}", f"{first.lower()}.{last.lower()}@{self.rng.choice(_DOMAINS)}"

    def subject(self) -> str:
        rng = self.rng
        base = self.words(rng.randint(3, 7)).capitalize()
        ticket = rng.randint(1000, 9999)
        return rng.choice([base, base, f"Re: [#{ticket}] {base}", f"{base} #{ticket}", f"Re: {base}"])

    def headers(self, message: EmailMessage, number: int, subject: str | None) -> None:
        rng = self.rng
        sender_name, sender = self.person()
        _, recipient = self.person()
        sent = _START + timedelta(minutes=7 * number, seconds=rng.randint(0, 400))
        domain = sender.split("@", 1)[1]
        for hop in range(rng.randint(2, 4)):
            message["Received"] = (
                f"from relay{hop}.{rng.choice(_DOMAINS)} ([198.51.100.{rng.randint(1, 254)}]) "
                f"by mx.helpdesk.example with ESMTPS id {rng.getrandbits(48):012X}; {format_datetime(sent)}"
            )
        if rng.random() < 0.5:
            message["DKIM-Signature"] = (
                f"v=1; a=rsa-sha256; d={domain}; s=mail; h=From:To:Subject:Date; "
                f"bh={rng.randbytes(32).hex()}; b={rng.randbytes(96).hex()}"
            )
        message["From"] = f'"{sender_name}" <{sender}>'
        message["To"] = f"Help desk <support@helpdesk.example>, {recipient}"
        if subject is not None:
            message["Subject"] = subject
        message["Date"] = format_datetime(sent)
        message["Message-ID"] = f"<{number}.{rng.getrandbits(64):016x}@{domain}>"

    def boundaries(self, message: EmailMessage) -> None:
        # email.generator would draw boundaries from the global random module.
        for part in message.walk():
            if part.is_multipart():
                part.set_boundary(f"=_mix_{self.rng.getrandbits(64):016x}")

    # -- the four kinds ------------------------------------------------------------------------

    def plain(self, number: int) -> EmailMessage:
        message = EmailMessage()
        self.headers(message, number, self.subject())
        own = self.text(self.rng.randint(300, 1500))
        quoted = self.text(self.rng.randint(200, 1500), prefix="> ")
        message.set_content(own + "\nOn Monday, the help desk wrote:\n" + quoted)
        return message

    def html(self, number: int) -> EmailMessage:
        message = EmailMessage()
        self.headers(message, number, self.subject())
        size = self.rng.randint(5 * 1024, 30 * 1024)
        text = self.text(size // 3)
        rows = "".join(
            f'<tr><td style="font-family:Arial,sans-serif;font-size:14px;color:#222">{paragraph}</td></tr>\n'
            for paragraph in text.split("\n\n")
            for _ in range(2)
        )
        message.set_content(text)
        message.add_alternative(
            f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><table>{rows}'
            "</table></body></html>\n",
            subtype="html",
        )
        return message

    def attachments(self, number: int) -> EmailMessage:
        rng = self.rng
        message = EmailMessage()
        self.headers(message, number, self.subject())
        message.set_content(self.text(rng.randint(300, 2000)))
        for _ in range(rng.choices((1, 2, 3), weights=(4, 3, 3))[0]):
            size = int(50 * 1024 * 40 ** rng.random())  # 50 KB .. 2 MB, small ones more often
            if rng.random() < 0.6:
                data = b"%PDF-1.5\n" + rng.randbytes(size - 9)
                message.add_attachment(
                    data,
                    maintype="application",
                    subtype="pdf",
                    filename=f"invoice-{rng.randint(1, 99999)}.pdf",
                )
            else:
                data = b"\x89PNG\r\n\x1a\n" + rng.randbytes(size - 8)
                message.add_attachment(
                    data, maintype="image", subtype="png", filename=f"photo_{rng.randint(1, 999):03d}.png"
                )
        return message

    def odd(self, number: int) -> EmailMessage:
        rng = self.rng
        charset = rng.choice(sorted(_ODD))
        sample = _ODD[charset]
        message = EmailMessage()
        subject = Header(f"[#{rng.randint(1000, 9999)}] {sample[: rng.randint(15, 35)]}", charset).encode(
            linesep=" "
        )
        self.headers(message, number, None)
        message["Subject"] = subject
        encodings = ["base64", "quoted-printable"] + ([] if charset == "shift_jis" else ["8bit"])
        body = "\n".join([sample] * rng.randint(3, 15)) + "\n"
        message.set_content(body, charset=charset, cte=rng.choice(encodings))
        if rng.random() < 0.5:
            message.add_alternative(
                f"<html><body><p>{sample}</p></body></html>\n",
                subtype="html",
                charset=charset,
                cte="quoted-printable",
            )
        return message


def _render(message: EmailMessage) -> bytes:
    raw = message.as_bytes(policy=_LF)
    return raw if raw.endswith(b"\n") else raw + b"\n"


def generate(n: int, seed: int) -> list[tuple[str, bytes]]:
    """*n* messages as ``(kind, raw)`` pairs; the same ``(n, seed)`` gives the same bytes."""
    writer = _Writer(seed)
    kinds = [kind for kind, share in _SHARES.items() for _ in range(round(n * share / 100))]
    kinds = (kinds + ["plain"] * n)[:n]
    writer.rng.shuffle(kinds)
    result: list[tuple[str, bytes]] = []
    for number, kind in enumerate(kinds):
        message = getattr(writer, kind)(number)
        writer.boundaries(message)
        result.append((kind, _render(message)))
    return result


class Mailbox:
    """A generated mix on disk: ``files`` in order, and its statistics."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stats = json.loads((folder / "stats.json").read_text())
        self.files = sorted((folder / "new").iterdir())

    @property
    def count(self) -> int:
        return int(self.stats["count"])

    @property
    def size(self) -> int:
        """Bytes with LF line ends (what the Maildir holds)."""
        return int(self.stats["bytes"])

    def raw(self) -> list[bytes]:
        return [path.read_bytes() for path in self.files]


def cached(n: int, seed: int, cache: Path) -> Mailbox:
    """The mix for ``(n, seed)``, generated into ``cache`` the first time.

    File names follow Dovecot's Maildir convention with ``S=`` (size) and ``W=`` (size with
    CRLF), so that Dovecot answers LIST without reading every file.
    """
    folder = cache / f"mix-{n}-{seed}"
    if (folder / "stats.json").exists():
        return Mailbox(folder)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "new").mkdir(parents=True)
    kinds = dict.fromkeys(KINDS, 0)
    total = 0
    for number, (kind, raw) in enumerate(generate(n, seed)):
        kinds[kind] += 1
        total += len(raw)
        wire = len(raw) + raw.count(b"\n")
        (
            folder / "new" / f"{1700000000 + number}.M{number:06d}P{seed}.mix,S={len(raw)},W={wire}"
        ).write_bytes(raw)
    (folder / "stats.json").write_text(json.dumps({"count": n, "seed": seed, "bytes": total, "kinds": kinds}))
    return Mailbox(folder)
