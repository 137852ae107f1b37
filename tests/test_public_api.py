"""The public names of DESIGN.md's table exist with the fields and methods it describes."""

from __future__ import annotations

import importlib
import inspect

import attrs
import pytest

import mailtrack
from mailtrack import (
    AttachmentNotFoundError,
    Importer,
    MailInterface,
    MemoryRecordStore,
    Record,
    RunReport,
    Security,
    StoreError,
    dump_config,
)
from mailtrack.abc import RecordStore
from mailtrack.testing import FakeMailbox, build_message

SECRET = "hunter2-do-not-show"


def field_names(cls: type) -> set[str]:
    return {field.name for field in attrs.fields(cls)}


@pytest.mark.parametrize("module", ["mailtrack", "mailtrack.testing", "mailtrack.stores", "mailtrack.abc"])
def test_every_name_in_all_can_be_imported(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in imported.__all__ if not hasattr(imported, name)]
    assert missing == []


def test_mail_interface_has_the_designed_fields_and_defaults() -> None:
    assert {
        "name",
        "enabled",
        "server",
        "port",
        "login",
        "password",
        "security",
        "ca_file",
        "leave_copy",
        "project",
        "defaults",
        "timeout",
        "max_message_bytes",
    } <= field_names(MailInterface)
    interface = MailInterface(name="support", server="pop.example.com", login="support")
    assert (interface.security, interface.ca_file, interface.leave_copy) == (Security.SSL, None, False)
    assert interface.effective_port == 995
    assert MailInterface(name="s", server="h", login="l", security=Security.STARTTLS).effective_port == 110


def test_importer_takes_its_parts_by_keyword_and_has_run_run_all_check() -> None:
    parameters = inspect.signature(Importer).parameters
    for name in ("store", "matcher", "converter", "fetcher_factory"):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(Importer.run_all).parameters) == ["self", "interfaces"]
    assert inspect.signature(Importer.run_all).parameters["interfaces"].default is None
    assert list(inspect.signature(Importer.run).parameters) == ["self", "interface"]
    assert list(inspect.signature(Importer.check).parameters) == ["self", "interface"]


def test_run_all_without_interfaces_runs_the_enabled_ones_saved_in_the_store() -> None:
    store = MemoryRecordStore()
    mailbox = FakeMailbox([build_message(subject="Printer on fire")])
    store.save_interface(MailInterface(name="on", server="h", login="l"))
    store.save_interface(MailInterface(name="off", server="h", login="l", enabled=False))
    reports = Importer(store=store, fetcher_factory=mailbox.fetcher).run_all()
    assert [report.interface for report in reports] == ["on"]
    assert store.last_run("on") == reports[0]
    assert store.last_run("off") is None


def test_run_report_and_record_have_the_designed_fields() -> None:
    assert {
        "interface",
        "started_at",
        "finished_at",
        "imported",
        "created",
        "updated",
        "skipped",
        "already_imported",
        "quarantined",
        "left_on_server",
        "error",
    } <= field_names(RunReport)
    # DESIGN.md's "failed" is the former name of "quarantined", kept as an alias.
    assert RunReport.failed.fget is not None  # type: ignore[attr-defined]
    assert {"id", "project", "title", "fields", "created_at", "updated_at", "details"} <= field_names(Record)
    assert {
        "id",
        "message_id",
        "sender",
        "sent_at",
        "subject",
        "text",
        "html",
        "headers",
        "attachments",
    } <= field_names(mailtrack.Detail)
    assert {"filename", "content_type", "content_id", "size", "sha256", "content"} <= field_names(
        mailtrack.Attachment
    )


def test_record_store_has_the_designed_methods() -> None:
    for name in (
        "get_record",
        "list_records",
        "list_quarantined",
        "save_interface",
        "get_interface",
        "list_interfaces",
        "delete_interface",
        "last_run",
        "get_attachment_content",
    ):
        assert callable(getattr(RecordStore, name)), name
    parameters = inspect.signature(RecordStore.list_records).parameters
    assert parameters["project"].default is None
    assert (parameters["limit"].default, parameters["offset"].default) == (None, 0)


def test_a_missing_attachment_is_a_public_store_error_and_lookup_error() -> None:
    with MemoryRecordStore() as store, pytest.raises(AttachmentNotFoundError) as raised:
        store.get_attachment_content(404)
    assert isinstance(raised.value, StoreError)
    assert isinstance(raised.value, LookupError)
    assert mailtrack.exceptions.AttachmentNotFoundError is AttachmentNotFoundError


def test_reprs_and_dumps_never_show_a_password() -> None:
    interface = MailInterface(name="support", server="pop.example.com", login="l", password=SECRET)
    store = MemoryRecordStore()
    store.save_interface(interface)
    shown = [
        repr(interface),
        str(interface),
        repr(mailtrack.Config(interfaces=[interface])),
        repr(dump_config(mailtrack.Config(interfaces=[interface]))),
        repr(store),
        repr(Importer(store=store)),
        repr(store.get_interface("support")),
    ]
    assert not [text for text in shown if SECRET in text]
    assert store.get_interface("support").password == SECRET  # kept, only never shown
