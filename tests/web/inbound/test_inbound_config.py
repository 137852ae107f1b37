"""The [inbound] table: loaded from mailtrack.toml, secrets from variables or files (relative to
the file), never dumped; what is missing or wrong is a ConfigError naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _inbound import make_app
from mailtrack import ConfigError, Importer, MailInterface, MemoryRecordStore
from mailtrack._serde import dump_config, load_config
from mailtrack.cli._extras import missing_extra
from mailtrack.web.inbound import InboundSettings, MailgunSettings, SESSettings, create_inbound_app

TOML = """
[[interfaces]]
name = "support"
server = "pop.example.com"
login = "support"

[inbound]
catch_all = "support"
max_body_bytes = 1000000

[inbound.mailgun]
signing_key_file = "secrets/mailgun"

[inbound.relay]
user = "relay"
password_env = "TEST_RELAY_PASSWORD"
"""


def test_inbound_table_loads_with_secrets_from_files_and_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "mailgun").write_text("key-from-the-file\n")
    (tmp_path / "mailtrack.toml").write_text(TOML)
    monkeypatch.setenv("TEST_RELAY_PASSWORD", "a relay password long enough")
    monkeypatch.chdir("/")  # the secret file is found beside the configuration, not here
    config = load_config(tmp_path / "mailtrack.toml")
    assert config.inbound is not None
    assert config.inbound.services == ("mailgun", "relay")
    assert config.inbound.interface_names == ("support",)
    assert config.inbound.mailgun is not None
    assert config.inbound.mailgun.resolve_signing_key() == "key-from-the-file"
    assert config.inbound.relay is not None
    assert config.inbound.relay.resolve_password("relay") == "a relay password long enough"
    app = create_inbound_app(
        importer=Importer(store=MemoryRecordStore()),
        settings=config.inbound,
        interfaces=config.interfaces,
    )
    assert sorted(route.path for route in app.routes) == ["/mailgun", "/mailgun/mime", "/relay"]  # type: ignore[attr-defined]


def test_inline_secrets_are_never_dumped() -> None:
    settings = InboundSettings(catch_all="support", mailgun=MailgunSettings(signing_key="key-inline-secret"))
    from mailtrack import Config

    dumped = str(dump_config(Config(inbound=settings), format="json"))
    assert "key-inline-secret" not in dumped
    assert "key-inline-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"catch_all": "support", "mailgun": {}}, "signing_key_env"),
        ({"catch_all": "support", "mailgun": {"signing_key_env": "TEST_EMPTY_VARIABLE"}}, "at least 8"),
        ({"catch_all": "support", "relay": {"user": "relay", "password": "short"}}, "at least 12"),
        (
            {"catch_all": "nobody", "relay": {"user": "r", "password": "long enough pass"}},
            "no interface named 'nobody'",
        ),
        ({"relay": {"user": "r", "password": "long enough pass"}}, "inbound.interfaces"),
        (
            {"catch_all": "support", "relay": {"user": "r", "password_env": "TEST_UNSET_VARIABLE"}},
            "TEST_UNSET_VARIABLE",
        ),
    ],
)
def test_missing_or_wrong_settings_are_config_errors(
    settings: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_EMPTY_VARIABLE", "")
    support = MailInterface(name="support", server="pop.example.com", login="support")

    def build() -> None:
        inbound = load_config({"inbound": settings}).inbound
        assert inbound is not None
        create_inbound_app(importer=Importer(), settings=inbound, interfaces=[support])

    with pytest.raises(ConfigError, match=message):
        build()


def test_ses_needs_its_topics() -> None:
    with pytest.raises(ConfigError, match="topic ARN"):
        SESSettings(topic_arns=())
    with pytest.raises(ConfigError, match="not an SNS topic ARN"):
        SESSettings(topic_arns=("https://example.com/",))


def test_the_howto_configurations_load_with_a_deliver_interface(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/howto/inbound.md's mailtrack.toml (the walk-through's and the full table) load as
    written: a ``protocol = "deliver"`` interface (no server, no login) behind the routes."""
    import re

    page = (Path(__file__).parents[3] / "docs" / "howto" / "inbound.md").read_text()
    blocks = [*re.findall(r"<<'EOF'\n(.*?)EOF\n", page, re.S), *re.findall(r"```toml\n(.*?)```", page, re.S)]
    assert len(blocks) == 2
    for variable in (
        "MAILGUN_SIGNING_KEY",
        "POSTMARK_INBOUND_PASSWORD",
        "MANDRILL_WEBHOOK_KEY",
        "RELAY_PASSWORD",
    ):
        monkeypatch.setenv(variable, "a secret long enough for any of them")
    (tmp_path / "sendgrid-inbound").write_text("a secret long enough for sendgrid\n")
    for number, block in enumerate(blocks):
        path = tmp_path / f"mailtrack-{number}.toml"
        path.write_text(block.replace("/run/secrets/sendgrid-inbound", str(tmp_path / "sendgrid-inbound")))
        config = load_config(path)
        assert [(entry.name, entry.protocol.value) for entry in config.interfaces] == [("support", "deliver")]
        assert (config.interfaces[0].server, config.interfaces[0].login) == ("", "")
        assert config.inbound is not None
        app = create_inbound_app(importer=Importer(), settings=config.inbound, interfaces=config.interfaces)
        assert "/mailgun/mime" in [route.path for route in app.routes]  # type: ignore[attr-defined]


def test_ses_without_cryptography_is_refused_when_the_app_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not at SNS's first message: every one would be answered 500 and retried.
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(ConfigError, match=r"pip install 'mailtrack\[inbound\]'"):
        make_app(MemoryRecordStore())


def test_python_multipart_missing_names_the_inbound_extra() -> None:
    # The web extra admits python-multipart before 0.0.13, which has no python_multipart module.
    message = missing_extra(ModuleNotFoundError("no", name="python_multipart"))
    assert message is not None
    assert "pip install 'mailtrack[inbound]'" in message
