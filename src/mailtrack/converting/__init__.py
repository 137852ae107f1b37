"""Raw RFC 5322 bytes into an :class:`~mailtrack.IncomingMessage`: :class:`MailParserConverter`.

One module per job: ``_mailparser`` is the converter and the only module that imports
mail-parser; ``_mimescan`` the pre-scan, ``_outofline`` the parse with large bodies out of line,
``_parts`` the walk of the MIME tree (bodies, attachments), ``_mailtext`` text decoding,
``_filenames`` safe attachment names, ``_defects`` the problems found. How a message is read:

1. Cheap checks on the bytes, before any parser: empty input and Outlook ``.msg`` files are
   refused, and a flat scan (:mod:`mailtrack.converting._mimescan`) checks the :class:`~mailtrack.ParseLimits`
   (header fields and bytes, MIME parts, nesting depth, parameters per MIME header) in time
   linear in the size of the message.
2. ``email.feedparser.BytesFeedParser`` (policy ``compat32``, as mail-parser uses it) builds the
   MIME tree, but it is not fed the lines of large leaf bodies one by one (most of its time on
   mail with attachments): each body of 256 bytes or more that the scan located, up to its first
   line starting with ``--`` (so that no line inside can be a boundary), is replaced by a single
   marker line shaped like a header field, and after parsing the body's text is put back into
   the part whose payload starts with that marker. The tree is then exactly the one the whole
   message gives; if any marker is not found where it must be (the parser read the message
   otherwise than the scan), the message is parsed again whole.
3. mail-parser reads the top-level From, To, Cc, Reply-To and Date fields, through the
   functions its ``MailParser`` calls for them, on the values it would give them (raw; with raw
   8-bit bytes an ``email.header.Header``, as ``Message.items()`` hands it out):
   ``mailparser.utils.get_addresses`` for each occurrence of each address field (the addresses
   of the first, with its recovery of malformed address lists, and the defects of all; a value
   read lately is not read again) and ``mailparser.dates.parse_mail_date`` for the first Date.
   The rest of ``MailParser`` does not run: step 4 would throw away everything its walk of the
   parts does (decoding, base64 re-encoding and randomly naming attachments), and mailtrack uses none
   of the other fields it decodes or the Received chain it parses. The two functions are not
   in mail-parser's documented API (their keywords came in 4.7, ``dates`` in 4.8), hence the
   dependency ``mail-parser>=4.8,<4.9``. The Subject, the Message-ID and the other header
   values are decoded here (RFC 2047 and raw 8-bit bytes, see
   :mod:`mailtrack.converting._mailtext`).
4. This module walks the same tree, without recursion, for the body text, the HTML and the
   attachments, because mail-parser names unnamed parts randomly, re-encodes attachment bytes
   and drops undecodable text; here attachment content is the decoded MIME part byte for byte,
   names are deterministic and safe, and text in an unknown or wrong charset is decoded
   without loss where possible (with a defect saying so).

The time budget (``ParseLimits.time_budget``) is checked during the pre-scan, after every
phase and before every MIME part; an overrun raises :class:`~mailtrack.ParseError` naming
``time_budget``. A phase is not interrupted in the middle (no signals or threads: the converter
may run in any thread), so what bounds a single phase is the pre-scan: with the parts, depth,
header and parameter counts within the limits, each phase costs about linear time in the size
of the message, and a conversion ends at most one phase (or one part) after its budget.
"""

from __future__ import annotations

from ._mailparser import MailParserConverter

__all__ = ["MailParserConverter"]
