"""Tests for mailtrack.classifying: machine mail (own, bounces, auto-replies) and outgoing headers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest

import mailtrack
from mailtrack import ConfigError, EmailAddress, ImportPolicy, IncomingMessage, MessageClass
from mailtrack.classifying import LOOP_HEADER, _matching_rule, classify, outgoing_headers
from mailtrack.converting import MailParserConverter

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
POLICY = ImportPolicy(own_addresses=("Support@Example.com",), loop_header_value="helpdesk-7f3a")


def message(
    *,
    sender: str | None = "ann@customer.example",
    subject: str = "Printer on floor 2 is broken",
    fields: Mapping[str, str | Sequence[str]] | None = None,
    in_reply_to: tuple[str, ...] = (),
) -> IncomingMessage:
    """An IncomingMessage shaped like the converter makes one (lower-case field names)."""
    header_fields = {
        name.lower(): (value,) if isinstance(value, str) else tuple(value)
        for name, value in (fields or {}).items()
    }
    return IncomingMessage(
        message_id="m1@customer.example",
        subject=subject,
        sender=EmailAddress(address=sender) if sender else None,
        sent_at=NOW,
        received_at=NOW,
        header_fields=header_fields,
        in_reply_to=in_reply_to,
    )


# -- normal mail ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "fields"),
    [
        pytest.param("Printer on floor 2 is broken", {}, id="plain"),
        pytest.param("Re: #123 still broken", {"In-Reply-To": "<a@b>"}, id="reply"),
        pytest.param("Hello", {"Auto-Submitted": "no"}, id="auto-submitted-no"),
        pytest.param("Hello", {"Auto-Submitted": "No (sent by a person)"}, id="auto-submitted-no-comment"),
        pytest.param("Hello", {"Precedence": "list", "List-Id": "<support.example.com>"}, id="mailman-list"),
        pytest.param(
            "Need help",
            {
                "List-Id": "<support.example.com>",
                "List-Unsubscribe": "<mailto:support+unsubscribe@example.com>",
                "Mailing-list": "list support@example.com; contact support+owners@example.com",
                "Precedence": "list",
            },
            id="google-groups",
        ),
        pytest.param(
            "Re: Limiting Perl CPU Utilization",
            {"Sender": "owner-freebsd-isp@FreeBSD.ORG", "Precedence": "bulk", "X-Loop": "FreeBSD.org"},
            id="majordomo-bulk-post",
        ),
        pytest.param(
            "Re: build fails",
            {"Precedence": "bulk", "List-Post": "<mailto:dev@lists.example.org>"},
            id="bulk-with-list-post",
        ),
        pytest.param(
            "Re: build fails",
            {"Precedence": "bulk", "Sender": '"dev" <dev-bounces@lists.example.org>'},
            id="bulk-from-mailman-bounces-sender",
        ),
        pytest.param("Hello", {"X-Auto-Response-Suppress": "DR, RN, NRN"}, id="suppress-receipts-only"),
        pytest.param("Hello", {"X-Autoreply": "no"}, id="x-autoreply-no"),
        pytest.param("Hello", {"Return-Path": "<ann@customer.example>"}, id="return-path-set"),
        pytest.param("Hello", {"Content-Type": "multipart/mixed; boundary=x"}, id="multipart-mixed"),
        pytest.param("Out of office not working in Outlook", {}, id="oof-ticket-for-it"),
        pytest.param("Re: Automatic reply: printer", {}, id="person-answering-an-auto-reply"),
        pytest.param("Absence: Ann, 3-5 May", {}, id="absence-request-to-hr"),
        pytest.param("Absence", {}, id="absence-alone"),
        pytest.param("Auto insurance question", {}, id="auto-word"),
        pytest.param("Our autoresponder sends the wrong text", {}, id="autoresponder-ticket"),
        pytest.param("Undeliverable items in warehouse", {}, id="undeliverable-word"),
        pytest.param("Hello", {"X-Mailtrack-Loop": "other-installation"}, id="foreign-loop-value"),
    ],
)
def test_normal_mail_is_normal(subject: str, fields: Mapping[str, str]) -> None:
    assert classify(message(subject=subject, fields=fields), POLICY) is MessageClass.NORMAL


def test_message_without_sender_or_fields_is_normal() -> None:
    assert classify(message(sender=None, fields={}), ImportPolicy()) is MessageClass.NORMAL


# -- own mail -------------------------------------------------------------------------------------


def test_loop_header_with_our_value_is_own() -> None:
    assert classify(message(fields={"X-Mailtrack-Loop": " helpdesk-7f3a "}), POLICY) is MessageClass.OWN


def test_loop_header_among_several_values_is_own() -> None:
    fields = {"X-Mailtrack-Loop": ["other-installation", "helpdesk-7f3a"]}
    assert classify(message(fields=fields), POLICY) is MessageClass.OWN


def test_loop_header_is_ignored_when_the_policy_sets_no_value() -> None:
    policy = ImportPolicy()
    assert classify(message(fields={"X-Mailtrack-Loop": "helpdesk-7f3a"}), policy) is MessageClass.NORMAL


def test_own_address_is_own_whatever_the_case() -> None:
    assert classify(message(sender="SUPPORT@example.COM"), POLICY) is MessageClass.OWN


def test_own_mail_wins_over_auto_reply_and_bounce_signs() -> None:
    fields = {"Auto-Submitted": "auto-replied", "Return-Path": "<>", "X-Failed-Recipients": "x@y"}
    assert classify(message(sender="support@example.com", fields=fields), POLICY) is MessageClass.OWN


# -- bounces --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "subject", "fields"),
    [
        pytest.param(
            "postmaster@mx.customer.example",
            "Delivery Status Notification (Failure)",
            {"Content-Type": 'multipart/report; report-type="delivery-status"; boundary="b1"'},
            id="dsn-quoted",
        ),
        pytest.param(
            "someone@example.org",
            "Hello",
            {"Content-Type": "Multipart/Report; Report-Type=Delivery-Status; boundary=b1"},
            id="dsn-mixed-case",
        ),
        pytest.param(
            "MAILER-DAEMON@mx.example.org",
            "Undelivered Mail Returned to Sender",
            {"Auto-Submitted": "auto-replied", "Return-Path": "<>"},
            id="postfix",
        ),
        pytest.param(
            "mailer-daemon@googlemail.com",
            "Delivery Status Notification (Failure)",
            {"X-Failed-Recipients": "nobody@example.org"},
            id="gmail",
        ),
        pytest.param(
            "mailer-daemon@exim.example.org",
            "Mail delivery failed: returning message to sender",
            {"X-Failed-Recipients": "nobody@example.org", "Auto-Submitted": "auto-replied"},
            id="exim",
        ),
        pytest.param(
            "bounces@example.org",
            "Hello",
            {"X-Failed-Recipients": "nobody@example.org"},
            id="x-failed-recipients",
        ),
        pytest.param("MAILER-DAEMON", "failure notice", {}, id="qmail-bare-local-part"),
        pytest.param("postmaster@contoso.example", "Undeliverable: Printer", {}, id="exchange-ndr"),
        pytest.param("noreply@example.org", "Undeliverable: Printer", {}, id="undeliverable-subject"),
        pytest.param("noreply@example.org", "Returned mail: see transcript for details", {}, id="sendmail"),
        pytest.param("noreply@example.org", "Unzustellbar: Drucker", {}, id="german-ndr"),
        pytest.param("noreply@example.org", "Hello", {"Return-Path": "<>"}, id="empty-return-path"),
        pytest.param("noreply@example.org", "Hello", {"Return-Path": "< >"}, id="empty-return-path-space"),
    ],
)
def test_bounces_are_bounces(sender: str, subject: str, fields: Mapping[str, str]) -> None:
    assert classify(message(sender=sender, subject=subject, fields=fields), POLICY) is MessageClass.BOUNCE


def test_bounce_sign_wins_over_auto_submitted() -> None:
    fields = {"Auto-Submitted": "auto-replied", "X-Failed-Recipients": "x@example.org"}
    assert classify(message(fields=fields), POLICY) is MessageClass.BOUNCE


def test_empty_return_path_with_auto_submitted_is_an_auto_reply() -> None:
    # RFC 3834 asks responders to send with an empty envelope sender: that alone is no bounce.
    fields = {"Return-Path": "<>", "Auto-Submitted": "auto-replied"}
    assert classify(message(fields=fields), POLICY) is MessageClass.AUTO_REPLY


# -- auto-replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "fields"),
    [
        pytest.param("Re: Printer", {"Auto-Submitted": "auto-replied"}, id="rfc3834-replied"),
        pytest.param("Re: Printer", {"Auto-Submitted": "Auto-Generated"}, id="rfc3834-generated-case"),
        pytest.param("Printer", {"Auto-Submitted": "auto-notified"}, id="rfc5436-notified"),
        pytest.param(
            "Printer", {"Auto-Submitted": "auto-replied; owner-email=ann@x (vacation)"}, id="with-params"
        ),
        pytest.param("Printer", {"Auto-Submitted": "something-new"}, id="unknown-value-not-no"),
        pytest.param("Printer", {"X-Autoreply": "yes"}, id="x-autoreply"),
        pytest.param("Printer", {"X-Autorespond": "Ann is away"}, id="x-autorespond"),
        pytest.param("Printer", {"X-Autoresponse": ""}, id="x-autoresponse-empty"),
        pytest.param("Printer", {"X-Autogenerated": "Reply"}, id="x-autogenerated"),
        pytest.param("Printer", {"Precedence": "bulk"}, id="precedence-bulk"),
        pytest.param(
            "May offers",
            {"Precedence": "bulk", "List-Unsubscribe": "<https://x.example/u>", "List-Id": "<n.x.example>"},
            id="newsletter-bulk-with-list-id",
        ),
        pytest.param(
            "Printer",
            {"Precedence": "junk", "List-Post": "<mailto:dev@lists.example.org>"},
            id="junk-on-list",
        ),
        pytest.param("Printer", {"Precedence": "JUNK"}, id="precedence-junk"),
        pytest.param("Printer", {"Precedence": "auto_reply"}, id="precedence-auto-reply"),
        pytest.param(
            "Automatic reply: Printer",
            {"X-Auto-Response-Suppress": "All", "X-MS-Exchange-Inbox-Rules-Loop": "ann@contoso.example"},
            id="exchange-oof",
        ),
        pytest.param("Printer", {"X-Auto-Response-Suppress": "DR, OOF, AutoReply"}, id="suppress-oof"),
        pytest.param(
            "Read: Printer",
            {"Content-Type": "multipart/report; report-type=disposition-notification; boundary=x"},
            id="read-receipt",
        ),
        pytest.param(
            "Abuse report",
            {"Content-Type": "multipart/report; report-type=feedback-report; boundary=x"},
            id="arf",
        ),
        pytest.param("Automatic reply: Printer", {}, id="outlook-en"),
        pytest.param("Out of Office", {}, id="oof-whole"),
        pytest.param("Out of Office AutoReply: Printer", {}, id="lotus-notes"),
        pytest.param("OUT OF OFFICE: back Monday", {}, id="oof-upper"),
        pytest.param("[Auto-Reply] Printer", {}, id="bracketed"),
        pytest.param("Autoreply: Printer", {}, id="autoreply"),
        pytest.param("Abwesenheitsnotiz: Drucker", {}, id="de-notiz"),
        pytest.param("Automatische Antwort: Drucker", {}, id="de-antwort"),
        pytest.param("Réponse automatique : Imprimante", {}, id="fr"),
        pytest.param("Fuera de la oficina: Impresora", {}, id="es-oficina"),
        pytest.param("Respuesta automática: Impresora", {}, id="es-respuesta"),
        pytest.param("Automatisch antwoord: Printer", {}, id="nl"),
        pytest.param("Risposta automatica: Stampante", {}, id="it"),
    ],
)
def test_auto_replies_are_auto_replies(subject: str, fields: Mapping[str, str]) -> None:
    assert classify(message(subject=subject, fields=fields), POLICY) is MessageClass.AUTO_REPLY


@pytest.mark.parametrize(
    "subject", ["Auto: Printer", "Absence: Re: Printer", "Afwezig: Printer", "Abwesenheit: Drucker"]
)
def test_ambiguous_out_of_office_words_count_on_answers(subject: str) -> None:
    answer = message(subject=subject, in_reply_to=("m0@example.com",))
    new_mail = message(subject=subject)
    assert classify(answer, POLICY) is MessageClass.AUTO_REPLY
    assert classify(new_mail, POLICY) is MessageClass.NORMAL


def test_rules_name_what_matched() -> None:
    rule = _matching_rule(message(fields={"Precedence": "bulk"}), POLICY)
    assert rule is not None
    assert rule.name == "bulk precedence"
    assert _matching_rule(message(), POLICY) is None


# -- outgoing headers -----------------------------------------------------------------------------


def test_outgoing_headers_for_automatic_answers() -> None:
    assert outgoing_headers(POLICY) == {
        LOOP_HEADER: "helpdesk-7f3a",
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "Precedence": "bulk",
    }


def test_outgoing_headers_for_notices() -> None:
    assert outgoing_headers(POLICY, auto_submitted="auto-generated")["Auto-Submitted"] == "auto-generated"


def test_outgoing_headers_for_mail_a_person_wrote_carry_only_the_loop_field() -> None:
    assert outgoing_headers(POLICY, auto_submitted="no") == {LOOP_HEADER: "helpdesk-7f3a"}


def test_outgoing_headers_without_loop_value_leave_the_loop_field_out() -> None:
    assert LOOP_HEADER not in outgoing_headers(ImportPolicy())


def test_outgoing_headers_refuse_an_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="auto_submitted"):
        outgoing_headers(POLICY, auto_submitted="yes")


def test_outgoing_headers_refuse_a_loop_value_that_would_inject_fields() -> None:
    with pytest.raises(ConfigError, match="loop_header_value"):
        outgoing_headers(ImportPolicy(loop_header_value="x\r\nBcc: victim@example.org"))


def test_our_outgoing_mail_coming_back_is_own_even_from_another_address() -> None:
    # A customer's forward keeps the fields: the loop field alone marks it as ours.
    fields = {name.lower(): value for name, value in outgoing_headers(POLICY).items()}
    returned = message(sender="forwarder@customer.example", fields=fields)
    assert classify(returned, POLICY) is MessageClass.OWN


def test_public_names_are_exported() -> None:
    assert mailtrack.classify is classify
    assert mailtrack.outgoing_headers is outgoing_headers
    assert mailtrack.LOOP_HEADER == "X-Mailtrack-Loop"


# -- raw samples through the converter ------------------------------------------------------------

MACHINE_SAMPLES = Path(__file__).parents[1] / "messages" / "machine"
SAMPLE_POLICY = ImportPolicy(own_addresses=("support@example.com",), loop_header_value="mailtrack-tests")


@pytest.mark.parametrize("path", sorted(MACHINE_SAMPLES.glob("*.eml")), ids=lambda path: path.stem)
def test_raw_sample_is_classified_as_its_name_says(path: Path) -> None:
    # The file name starts with the expected class: "bounce-postfix-dsn.eml" is a bounce.
    expected = MessageClass(path.stem.split("-", 1)[0])
    converted = MailParserConverter().convert(path.read_bytes(), received_at=NOW)
    assert classify(converted, SAMPLE_POLICY) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cpython-test-email/msg_16.txt", MessageClass.BOUNCE),  # Delivery Notification from a daemon
        ("cpython-test-email/msg_25.txt", MessageClass.BOUNCE),  # Returned mail: too many hops
        ("mail-parser/mail_malformed_2.eml", MessageClass.BOUNCE),  # malformed delivery failure
        ("cpython-test-email/msg_32.txt", MessageClass.NORMAL),  # a Majordomo list post, Precedence: bulk
        ("mail-parser/mail_test_5.eml", MessageClass.AUTO_REPLY),  # a newsletter, Precedence: bulk
        ("cpython-test-email/msg_01.txt", MessageClass.NORMAL),
    ],
)
def test_corpus_message_is_classified(corpora_dir: Path, name: str, expected: MessageClass) -> None:
    converted = MailParserConverter().convert((corpora_dir / name).read_bytes(), received_at=NOW)
    assert classify(converted, ImportPolicy()) is expected


def test_every_message_class_has_raw_samples() -> None:
    classes = {MessageClass(path.stem.split("-", 1)[0]) for path in MACHINE_SAMPLES.glob("*.eml")}
    assert classes == set(MessageClass)
