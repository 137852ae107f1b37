"""What the reader sees: Detail.folded_text (quoted history and signatures folded away, the
stored text untouched) and the plain text of HTML-only mail (made by core code)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mailtrack import Detail, Importer, MailInterface, MailParserConverter
from mailtrack._folding import folded_text
from mailtrack.converting._htmltext import html_to_text
from mailtrack.testing import FakeMailbox, build_message

NOW = datetime(2024, 5, 6, tzinfo=timezone.utc)

ANSWER = "Thanks, it works again.\n"
HISTORIES = {
    "english-gmail": (
        "On Mon, 6 May 2024 at 10:00, Ann Example <ann@example.com> wrote:\n> The printer is broken.\n> Ann\n"
    ),
    "english-wrapped": (
        "On Mon, 6 May 2024 at 10:00, Ann Example\n<ann@example.com> wrote:\n\n> The printer is broken.\n"
    ),
    "german-thunderbird": "Am 06.05.2024 um 10:00 schrieb Ann Example:\n> Der Drucker ist kaputt.\n",
    "german-apple": "Ann Example <ann@example.com> schrieb am 06.05.2024:\n> Der Drucker ist kaputt.\n",
    "french": (
        "Le 6 mai 2024 à 10:00, Ann Example <ann@example.com> a écrit :\n> L'imprimante est en panne.\n"
    ),
    "spanish": (
        "El lun, 6 may 2024 a las 10:00, Ann Example (<ann@example.com>) escribió:\n"
        "> La impresora no funciona.\n"
    ),
    "outlook-english": (
        "________________________________\n"
        "From: Ann Example <ann@example.com>\n"
        "Sent: Monday, May 6, 2024 10:00 AM\n"
        "To: Support\n"
        "Subject: printer\n"
        "\n"
        "The printer is broken.\n"
    ),
    "outlook-german": (
        "Von: Ann Example <ann@example.com>\n"
        "Gesendet: Montag, 6. Mai 2024 10:00\n"
        "An: Support\n"
        "Betreff: Drucker\n"
        "\n"
        "Der Drucker ist kaputt.\n"
    ),
    "outlook-french": (
        "De : Ann Example <ann@example.com>\nEnvoyé : lundi 6 mai 2024 10:00\nÀ : Support\n\nL'imprimante.\n"
    ),
    "outlook-spanish": (
        "De: Ann Example <ann@example.com>\n"
        "Enviado: lunes, 6 de mayo de 2024 10:00\n"
        "Para: Soporte\n"
        "\n"
        "La impresora.\n"
    ),
    "original-message": "-----Original Message-----\nFrom: Ann\nThe printer is broken.\n",
    "ursprüngliche": "-----Ursprüngliche Nachricht-----\nVon: Ann\nDer Drucker.\n",
    "quotes-only": "> The printer is broken.\n>> Earlier.\n",
    "signature": "-- \nBob Support\nACME Inc.\n",
}


@pytest.mark.parametrize("history", HISTORIES.values(), ids=HISTORIES.keys())
def test_history_and_signatures_are_folded_away(history: str) -> None:
    assert folded_text(f"{ANSWER}\n{history}") == ANSWER.strip()
    assert folded_text(f"{ANSWER}\n-- \nBob\n\n{history}") == ANSWER.strip()


def test_inline_answers_keep_their_quotes() -> None:
    text = "> Is it plugged in?\nYes.\n> Is it on?\nNo.\n\n> Thanks\n"
    assert folded_text(text) == "> Is it plugged in?\nYes.\n> Is it on?\nNo."


def test_ordinary_text_is_left_alone() -> None:
    for text in (
        "From: the second floor\nThe printer is broken.\n",  # "From:" without a "Sent:" line
        "Line\n-- \nmore than a signature\n" + "x\n" * 40,  # a '-- ' line far from the end
        "Only a quote:\n",
        "",
    ):
        assert folded_text(text) == text.strip("\n") or folded_text(text) == text


def test_a_text_that_is_all_history_is_shown_whole() -> None:
    text = "On Mon, Ann wrote:\n> hello\n"
    assert folded_text(text) == text


def test_the_detail_folds_at_read_time_and_keeps_the_text_as_sent() -> None:
    text = f"{ANSWER}\n{HISTORIES['german-thunderbird']}"
    mailbox = FakeMailbox([build_message(text=text)])
    importer = Importer(fetcher_factory=mailbox.fetcher)
    importer.run(MailInterface(name="s", server="pop.example.com", login="s"))
    [record] = importer.store.list_records()
    [detail] = record.details
    assert isinstance(detail, Detail)
    assert detail.text == text
    assert detail.folded_text == ANSWER.strip()


def test_hostile_texts_fold_quickly_enough_and_crash_nothing() -> None:
    huge = "On " + "x " * 100_000 + "wrote:\n" + "> q\n" * 100_000
    assert folded_text("answer\n" + huge).startswith("answer\nOn x x")  # too long to be an attribution
    assert folded_text("answer\n" + "> q\n" * 100_000) == "answer"


# -- HTML-only mail --------------------------------------------------------------------------------


def test_html_only_mail_gets_a_plain_text_rendering() -> None:
    html = (
        "<html><head><title>x</title><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><h1>Order&nbsp;shipped</h1><p>Track it <a href='https://track.example/1'>here</a>"
        " or write to <a href='mailto:help@example.com'>help@example.com</a>.</p>"
        "<ul><li>one</li><li>two</li></ul><p>Line<br>break &amp; more</p>"
        "<a href='javascript:evil()'>click</a><img alt='logo' src='cid:l'></body></html>"
    )
    message = MailParserConverter().convert(build_message(text=None, html=html), received_at=NOW)
    assert message.html is not None
    assert "<h1>" in message.html  # the HTML is kept as sent
    assert message.text == (
        "Order\xa0shipped\n\nTrack it here <https://track.example/1> or write to help@example.com.\n\n"
        "- one\n- two\n\nLine\nbreak & more\n\nclick[logo]"
    )


def test_a_text_part_wins_over_the_html() -> None:
    message = MailParserConverter().convert(
        build_message(text="plain\n", html="<p>rich</p>"), received_at=NOW
    )
    assert message.text == "plain\n"


def test_broken_html_gives_text_not_a_crash() -> None:
    for html in (
        "<p>unclosed <b>bold <a href=",
        "<" * 10_000,
        "<div>" * 50_000 + "deep",
        "&#xD800;&bogus; x",
    ):
        assert isinstance(html_to_text(html), str)
    assert html_to_text("<div>" * 50_000 + "deep").endswith("deep")
