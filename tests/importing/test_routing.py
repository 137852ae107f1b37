"""Routing by recipient: one mailbox serving several projects (MailInterface.routes)."""

from __future__ import annotations

import pytest

from mailtrack import (
    ConfigError,
    Importer,
    ImportPolicy,
    MailInterface,
    RecordStore,
    Route,
    SenderPolicy,
    load_config,
)
from mailtrack.testing import FakeMailbox, build_message

ROUTES = (
    Route(address="billing@example.com", project="billing", defaults={"queue": "money"}),
    Route(address="@sales.example.com", project="sales"),
    Route(address="support+vip@example.com", project="vip"),
)


def make_interface() -> MailInterface:
    return MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        project="helpdesk",
        defaults={"priority": "normal"},
        routes=ROUTES,
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )


def project_of(store: RecordStore, mailbox: FakeMailbox, raw: bytes) -> tuple[str, dict[str, str]]:
    mailbox.add(raw)
    report = Importer(store=store, fetcher_factory=mailbox.fetcher).run(make_interface())
    assert report.created == 1, report
    newest = store.list_records(limit=1)[0]
    return newest.project, dict(newest.fields)


@pytest.mark.parametrize(
    ("headers", "to", "project"),
    [
        ({}, "Billing <BILLING@example.com>", "billing"),
        ({}, "billing+march@example.com", "billing"),  # a plus-address detail
        ({}, "anne@sales.example.com", "sales"),
        ({}, "support+vip@example.com", "vip"),
        ({}, "support+other@example.com", "helpdesk"),  # no route: the interface's project
        ({"Delivered-To": "billing@example.com"}, "list@lists.example.org", "billing"),  # the envelope
        ({"X-Original-To": "someone@sales.example.com"}, "support@example.com", "sales"),
    ],
)
def test_the_recipient_decides_the_project(
    store: RecordStore, headers: dict[str, str], to: str, project: str
) -> None:
    found, fields = project_of(store, FakeMailbox(), build_message(to=to, headers=headers))
    assert found == project
    assert fields["priority"] == "normal"  # the interface's defaults stay, a route's are added
    assert ("queue" in fields) == (project == "billing")


def test_the_first_matching_route_wins(store: RecordStore) -> None:
    raw = build_message(to="x@sales.example.com", cc="billing@example.com")
    assert project_of(store, FakeMailbox(), raw)[0] == "billing"  # route 1 before route 2


def test_a_reply_is_matched_within_its_routes_project(store: RecordStore) -> None:
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    mailbox.add(build_message(subject="Invoice wrong", to="billing@example.com", message_id="<inv@x>"))
    mailbox.add(build_message(subject="Printer", to="support@example.com", message_id="<prn@x>"))
    importer.run(make_interface())
    by_project = {record.project: record for record in store.list_records()}
    mailbox.add(build_message(subject="Re: invoice", to="billing@example.com", in_reply_to="<inv@x>"))
    # Sent to billing, but refers to the helpdesk record: a reply is looked up in its route's project.
    mailbox.add(build_message(subject="Re: printer", to="billing@example.com", in_reply_to="<prn@x>"))
    report = importer.run(make_interface())
    assert (report.updated, report.created) == (1, 1)
    assert len(store.get_record(by_project["billing"].id).details) == 2
    assert len(store.get_record(by_project["helpdesk"].id).details) == 1
    told = importer.explain(make_interface(), build_message(to="billing@example.com"))
    assert told.evidence[0] == "sent to billing@example.com: routed to project 'billing' (route 1)"


def test_routes_load_from_toml_and_bad_ones_are_named() -> None:
    text = """
[[interfaces]]
name = "support"
server = "pop.example.com"
login = "support"

[[interfaces.routes]]
address = "billing@example.com"
project = "billing"
defaults = { queue = "money" }
"""
    config = load_config(text, format="toml")
    assert config.interfaces[0].routes == (ROUTES[0],)
    with pytest.raises(ConfigError, match="address"):
        Route(address="not an address", project="x")
    with pytest.raises(ConfigError, match="routes"):
        load_config(text.replace('project = "billing"', ""), format="toml")
