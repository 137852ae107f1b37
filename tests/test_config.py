"""Configuration: validation at construction, load/dump through dict, JSON and TOML, secrets kept out."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from mailtrack import (
    ClassAction,
    Config,
    ConfigError,
    ImportPolicy,
    MailInterface,
    MailProtocol,
    ParseLimits,
    Security,
    SenderPolicy,
    dump_config,
    load_config,
)

SECRET = "correct-horse-battery-staple"


def interface_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "support", "server": "pop.example.com", "login": "support@example.com"}
    data.update(overrides)
    return data


def full_config() -> Config:
    return Config(
        store="postgresql://tracker@db/tracker",
        interfaces=(
            MailInterface(
                name="support",
                server="pop.example.com",
                login="support@example.com",
                password=SECRET,
                port=995,
                security=Security.SSL,
                ca_file="/etc/ssl/private-ca.pem",
                leave_copy=True,
                project="helpdesk",
                defaults={"priority": "high", "category": "e-mail"},
                timeout=12.5,
                max_message_bytes=1_000_000,
                policy=ImportPolicy(
                    sender_policy=SenderPolicy.ANYONE,
                    quarantine_refused=True,
                    on_auto_reply=ClassAction.DROP,
                    on_bounce=ClassAction.QUARANTINE,
                    own_addresses=("tracker@example.com", "noreply@example.com"),
                    loop_header_value="tracker-1",
                    delete_quarantined=True,
                ),
            ),
            MailInterface(
                name="sales",
                server="mail.example.org",
                login="sales",
                password_env="SALES_POP_PASSWORD",
                security=Security.STARTTLS,
                enabled=False,
            ),
        ),
    )


# -- validation at construction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 0}, "port: must be 1..65535, not 0"),
        ({"port": 65536}, "port: must be 1..65535, not 65536"),
        ({"port": True}, "port: must be an integer, not bool"),
        ({"server": ""}, "server: must not be empty (only an interface of protocol 'deliver' has no server)"),
        (
            {"server": "   "},
            "server: must not be empty (only an interface of protocol 'deliver' has no server)",
        ),
        ({"server": "pop.example.com\r\nQUIT"}, "server: must not contain line breaks or NUL"),
        ({"name": 7}, "name: must be a string, not int"),
        ({"timeout": 0}, "timeout: must be positive, not 0"),
        ({"timeout": True}, "timeout: must be a number, not bool"),
        ({"max_message_bytes": -1}, "max_message_bytes: must be positive, not -1"),
        ({"security": "ssl"}, "security: must be Security, not str"),
        ({"leave_copy": "yes"}, "leave_copy: must be bool, not str"),
        ({"defaults": {"priority": 1}}, "defaults['priority']: keys and values must be strings"),
        ({"defaults": ["priority"]}, "defaults: must be a mapping of field names to strings, not list"),
        ({"password": 1234}, "password: must be str, not int"),
    ],
)
def test_bad_interface_value_is_refused_at_once_naming_the_field(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        MailInterface(**interface_data(**overrides))
    assert str(caught.value) == message


def test_default_port_follows_security() -> None:
    assert MailInterface(**interface_data()).effective_port == 995
    assert MailInterface(**interface_data(security=Security.STARTTLS)).effective_port == 110
    assert MailInterface(**interface_data(security=Security.NONE)).effective_port == 110
    assert MailInterface(**interface_data(port=1995)).effective_port == 1995


def test_secure_and_safe_defaults() -> None:
    interface = MailInterface(**interface_data())
    assert interface.security is Security.SSL
    assert interface.leave_copy is False
    assert interface.enabled is True
    assert interface.policy.sender_policy is SenderPolicy.PARTICIPANTS
    assert interface.policy.on_own_mail is ClassAction.DROP


def test_defaults_are_copied_so_later_changes_do_not_leak_in() -> None:
    fields = {"priority": "low"}
    interface = MailInterface(**interface_data(defaults=fields))
    fields["priority"] = "high"
    assert interface.defaults == {"priority": "low"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sender_policy": "anyone"}, "sender_policy: must be SenderPolicy, not str"),
        ({"on_bounce": None}, "on_bounce: must be ClassAction, not NoneType"),
        ({"quarantine_refused": 1}, "quarantine_refused: must be bool, not int"),
        ({"own_addresses": 5}, "must be a list of strings, not int"),
    ],
)
def test_bad_policy_value_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ImportPolicy(**overrides)
    assert str(caught.value) == message


def test_own_addresses_accept_a_lone_string_or_a_list() -> None:
    assert ImportPolicy(own_addresses="me@example.com").own_addresses == ("me@example.com",)
    assert ImportPolicy(own_addresses=["a@x", "b@x"]).own_addresses == ("a@x", "b@x")


def test_parse_limits_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"^max_parts: must be positive, not 0$"):
        ParseLimits(max_parts=0)


def test_interface_names_are_unique_in_a_config() -> None:
    twice = MailInterface(**interface_data())
    with pytest.raises(ConfigError, match=r"^interfaces\[1\]\.name: 'support' is used twice$"):
        Config(interfaces=(twice, twice))


# -- the password never shows -----------------------------------------------------------------------


def test_password_is_never_in_repr_or_str(caplog: pytest.LogCaptureFixture) -> None:
    config = full_config()
    interface = config.interfaces[0]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("mailtrack").info("interface: %s / %r", interface, config)

    assert interface.password == SECRET
    for text in (repr(interface), str(interface), repr(config), str(config), caplog.text):
        assert SECRET not in text
    assert "name='support'" in repr(interface)


def test_password_is_not_dumped_unless_asked_for() -> None:
    config = full_config()

    for fmt in ("json", "toml"):
        assert SECRET not in dump_config(config, format=fmt)
    assert "password" not in dump_config(config)["interfaces"][0]
    assert SECRET in dump_config(config, format="json", include_secrets=True)
    assert dump_config(config, include_secrets=True)["interfaces"][0]["password"] == SECRET


def test_loading_a_dump_without_secrets_keeps_the_password_references() -> None:
    config = full_config()
    loaded = load_config(dump_config(config, format="toml"), format="toml")

    assert loaded.interfaces[0].password == ""
    assert loaded.interfaces[1].password_env == "SALES_POP_PASSWORD"


def test_wrong_password_type_does_not_echo_the_value() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"interfaces": [interface_data(password=987654321)]})
    assert str(caught.value) == "interfaces[0].password: expected str, got int"
    assert "987654321" not in str(caught.value)


# -- password_env and password_file ------------------------------------------------------------------


def test_password_wins_over_env_and_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POP_PASSWORD", "from-env")
    interface = MailInterface(**interface_data(password="given", password_env="POP_PASSWORD"))
    assert interface.resolve_password() == "given"


def test_password_env_is_read_when_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    interface = MailInterface(**interface_data(password_env="POP_PASSWORD"))
    monkeypatch.setenv("POP_PASSWORD", SECRET)
    assert interface.resolve_password() == SECRET
    monkeypatch.setenv("POP_PASSWORD", "rotated")
    assert interface.resolve_password() == "rotated"


def test_unset_password_env_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POP_PASSWORD", raising=False)
    interface = MailInterface(**interface_data(password_env="POP_PASSWORD"))
    with pytest.raises(ConfigError, match=r"^support: environment variable POP_PASSWORD \(password_env\)"):
        interface.resolve_password()


def test_password_file_first_line_is_the_password(tmp_path: Path) -> None:
    secret_file = tmp_path / "pop.secret"
    secret_file.write_text(f"{SECRET}\r\nsecond line is ignored\n", encoding="utf-8")
    interface = MailInterface(**interface_data(password_file=str(secret_file)))
    assert interface.resolve_password() == SECRET


def test_unreadable_password_file_is_a_config_error_without_the_password(tmp_path: Path) -> None:
    missing = tmp_path / "missing.secret"
    interface = MailInterface(**interface_data(password_file=str(missing)))
    with pytest.raises(ConfigError) as caught:
        interface.resolve_password()
    assert str(caught.value).startswith(f"support: cannot read password_file {str(missing)!r}")
    assert caught.value.__cause__ is None


def test_no_password_source_gives_an_empty_password() -> None:
    assert MailInterface(**interface_data()).resolve_password() == ""


# -- load and dump ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dict", "json", "toml"])
def test_round_trip_with_secrets_gives_an_equal_config(fmt: str) -> None:
    config = full_config()
    dumped = dump_config(config, format=fmt, include_secrets=True)  # type: ignore[arg-type]
    loaded = load_config(dumped, format=None if fmt == "dict" else fmt)  # type: ignore[arg-type]
    assert loaded == config
    assert loaded.interfaces[0].password == SECRET


def test_json_dump_is_plain_json() -> None:
    data = json.loads(dump_config(full_config(), format="json"))
    assert data["interfaces"][0]["security"] == "ssl"
    assert data["interfaces"][0]["policy"]["on_bounce"] == "quarantine"
    assert data["interfaces"][1]["port"] is None


def test_load_from_files_by_suffix(tmp_path: Path) -> None:
    config = full_config()
    toml_file = tmp_path / "mailtrack.toml"
    json_file = tmp_path / "mailtrack.json"
    toml_file.write_text(dump_config(config, format="toml", include_secrets=True), encoding="utf-8")
    json_file.write_text(dump_config(config, format="json", include_secrets=True), encoding="utf-8")

    assert load_config(toml_file) == config
    assert load_config(str(json_file)) == config


def test_hand_written_toml_loads_with_defaults() -> None:
    text = """
        store = "sqlite:///tracker.db"

        [[interfaces]]
        name = "support"
        server = "pop.example.com"
        login = "support"
        password_file = "/run/secrets/pop"
        project = "helpdesk"
        timeout = 30

        [interfaces.defaults]
        priority = "normal"

        [interfaces.policy]
        on_bounce = "drop"
    """
    config = load_config(text, format="toml")
    [interface] = config.interfaces
    assert interface.timeout == 30.0
    assert isinstance(interface.timeout, float)
    assert interface.defaults == {"priority": "normal"}
    assert interface.policy.on_bounce is ClassAction.DROP
    assert interface.policy.on_auto_reply is ClassAction.APPEND_OR_IGNORE
    assert interface.security is Security.SSL


def test_load_a_single_interface_or_policy() -> None:
    interface = load_config(interface_data(leave_copy=True), kind=MailInterface)
    assert interface == MailInterface(**interface_data(leave_copy=True))
    policy = load_config({"sender_policy": "callback"}, kind=ImportPolicy)
    assert policy.sender_policy is SenderPolicy.CALLBACK


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stor": "x"}, "unknown field(s): stor"),
        ({"interfaces": [interface_data(prot=1)]}, "interfaces[0]: unknown field(s): prot"),
        (
            {"interfaces": [interface_data(policy={"sender_policy": "anyone", "bogus": 1})]},
            "interfaces[0].policy: unknown field(s): bogus",
        ),
        ({"interfaces": [interface_data(port=0)]}, "interfaces[0].port: must be 1..65535, not 0"),
        ({"interfaces": [interface_data(port="110")]}, "interfaces[0].port: expected int, got str"),
        ({"interfaces": [interface_data(port=True)]}, "interfaces[0].port: expected int, got a boolean"),
        ({"interfaces": [interface_data(enabled="yes")]}, "interfaces[0].enabled: expected bool, got str"),
        (
            {"interfaces": [interface_data(server="")]},
            "interfaces[0].server: must not be empty (only an interface of protocol 'deliver' has no server)",
        ),
        (
            {"interfaces": [{"name": "support", "login": "x"}]},
            "interfaces[0].server: must not be empty (only an interface of protocol 'deliver' has no server)",
        ),
        (
            {"interfaces": [interface_data(security="tls")]},
            "interfaces[0].security: 'tls' is not one of 'ssl', 'starttls', 'none'",
        ),
        (
            {"interfaces": [interface_data(policy={"sender_policy": "everyone"})]},
            "interfaces[0].policy.sender_policy: "
            "'everyone' is not one of 'anyone', 'participants', 'callback'",
        ),
        (
            {"interfaces": [interface_data(defaults={"priority": 3})]},
            "interfaces[0].defaults['priority']: expected str, got int",
        ),
        (
            {"interfaces": [interface_data(policy={"own_addresses": [1]})]},
            "interfaces[0].policy.own_addresses[0]: expected str, got int",
        ),
        (
            {"interfaces": [interface_data(), interface_data()]},
            "interfaces[1].name: 'support' is used twice",
        ),
        ({"store": 1}, "store: expected str, got int"),
    ],
)
def test_bad_data_is_a_config_error_with_the_field_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(data)
    assert str(caught.value) == message


def test_every_bad_field_of_an_interface_is_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"interfaces": [interface_data(port="x", enabled="no")]})
    assert "interfaces[0].port: expected int, got str" in str(caught.value)
    assert "interfaces[0].enabled: expected bool, got str" in str(caught.value)


def test_invalid_toml_and_json_text_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^<toml text>: not valid TOML"):
        load_config("store = [", format="toml")
    with pytest.raises(ConfigError, match=r"^<json text>: not valid JSON"):
        load_config('{"store": ', format="json")


def test_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"^cannot read configuration file .*nope\.toml"):
        load_config(missing)


def test_dump_refuses_unknown_formats_and_objects() -> None:
    with pytest.raises(ConfigError, match=r"^format: must be 'dict', 'json' or 'toml', not 'yaml'$"):
        dump_config(full_config(), format="yaml")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^cannot dump str"):
        dump_config("support")  # type: ignore[arg-type]


def test_own_addresses_as_a_lone_string_in_a_file_is_one_address() -> None:
    config = load_config({"interfaces": [interface_data(policy={"own_addresses": "me@example.com"})]})
    assert config.interfaces[0].policy.own_addresses == ("me@example.com",)


def test_a_section_of_the_wrong_shape_is_described_in_plain_words() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"interfaces": [interface_data(defaults="priority=high")]})
    assert "object has no attribute" not in str(caught.value)


def test_dict_dump_is_plain_data() -> None:
    interface = MailInterface(name="support", server="pop.example.com", login="support")
    data = dump_config(interface)
    assert type(data["security"]) is str
    assert data["security"] == "ssl"
    assert type(data["policy"]["on_bounce"]) is str


def test_oauth_settings_are_checked_and_exclusive_with_a_password() -> None:
    from mailtrack import OAuthFlow, OAuthSettings, dump_config, load_config

    with pytest.raises(ConfigError, match=r"oauth\.client_id: required"):
        OAuthSettings(provider="microsoft")
    with pytest.raises(ConfigError, match="token_url: required"):
        OAuthSettings(client_id="app")
    with pytest.raises(ConfigError, match="tenant"):
        OAuthSettings(provider="microsoft", client_id="app", tenant="evil/../x?")
    with pytest.raises(ConfigError, match="client_credentials"):
        OAuthSettings(provider="microsoft", client_id="app", flow="client_credentials")
    with pytest.raises(ConfigError, match=r"oauth\.flow: must be one of"):
        OAuthSettings(provider="microsoft", client_id="app", flow="password")
    oauth = OAuthSettings(provider="google", client_id="app", client_secret="inline-client-secret")
    assert oauth.flow is OAuthFlow.REFRESH_TOKEN
    with pytest.raises(ConfigError, match="oauth and a password"):
        MailInterface(name="s", server="h", login="l", password_env="X", oauth=oauth)
    interface = MailInterface(name="s", server="h", login="l", oauth=oauth)
    assert "inline-client-secret" not in repr(interface)
    dumped = dump_config(interface, format="json")
    assert "inline-client-secret" not in dumped
    assert '"provider": "google"' in dumped
    loaded = load_config(
        {
            "interfaces": [
                {
                    "name": "s",
                    "server": "h",
                    "login": "l",
                    "oauth": {"provider": "microsoft", "tenant": "example.com", "client_id": "app"},
                }
            ]
        }
    )
    assert loaded.interfaces[0].oauth is not None
    assert loaded.interfaces[0].oauth.tenant == "example.com"
    with pytest.raises(ConfigError, match=r"interfaces\[0\]\.oauth"):
        load_config({"interfaces": [{"name": "s", "server": "h", "login": "l", "oauth": {"provider": "x"}}]})


# -- IMAP: protocol, folder, after_import ---------------------------------------------------------


def test_imap_default_ports_follow_security() -> None:
    imap: dict[str, Any] = {
        "name": "x",
        "server": "imap.example.com",
        "login": "u",
        "protocol": MailProtocol.IMAP,
    }
    assert MailInterface(**imap).effective_port == 993
    assert MailInterface(**imap, security=Security.STARTTLS).effective_port == 143
    assert MailInterface(**imap, security=Security.NONE).effective_port == 143
    assert MailInterface(name="x", server="pop.example.com", login="u").effective_port == 995


@pytest.mark.parametrize(
    ("settings", "action", "move_to", "keeps"),
    [
        ({}, "delete", None, False),
        ({"leave_copy": True}, "keep", None, True),
        ({"after_import": "keep"}, "keep", None, True),
        ({"after_import": "flag", "leave_copy": True}, "flag", None, True),
        ({"after_import": "move:Archive/2026"}, "move", "Archive/2026", False),
        ({"after_import": "delete"}, "delete", None, False),
    ],
)
def test_after_import_and_leave_copy_agree(
    settings: dict[str, Any], action: str, move_to: str | None, keeps: bool
) -> None:
    interface = MailInterface(name="x", server="s", login="u", protocol=MailProtocol.IMAP, **settings)
    assert (interface.after_import_action, interface.move_to, interface.keeps_messages) == (
        action,
        move_to,
        keeps,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"protocol": MailProtocol.IMAP, "after_import": "delete", "leave_copy": True},
            "disagrees with leave_copy",
        ),
        ({"protocol": MailProtocol.IMAP, "after_import": "move:Done", "leave_copy": True}, "disagrees"),
        ({"protocol": MailProtocol.IMAP, "after_import": "move"}, "needs a folder"),
        ({"protocol": MailProtocol.IMAP, "after_import": "move:"}, "needs a folder"),
        ({"protocol": MailProtocol.IMAP, "after_import": "archive"}, "must be one of"),
        ({"after_import": "flag"}, "needs protocol 'imap'"),
        ({"after_import": "move:Done"}, "needs protocol 'imap'"),
        ({"protocol": MailProtocol.IMAP, "folder": ""}, "folder: must not be empty"),
    ],
)
def test_bad_imap_settings_are_refused_naming_the_field(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MailInterface(name="x", server="s", login="u", **settings)


def test_imap_interface_loads_from_toml_and_round_trips() -> None:
    text = (
        '[[interfaces]]\nname = "gmail"\nprotocol = "imap"\nserver = "imap.gmail.com"\n'
        'login = "support@example.com"\nfolder = "Support"\nafter_import = "move:Support/Done"\n'
    )
    config = load_config(text, format="toml")
    (interface,) = config.interfaces
    assert (interface.protocol, interface.folder, interface.move_to) == (
        MailProtocol.IMAP,
        "Support",
        "Support/Done",
    )
    assert load_config(dump_config(config, format="toml"), format="toml") == config
    with pytest.raises(ConfigError, match="'smtp' is not one of 'pop3', 'imap'"):
        load_config(text.replace('"imap"', '"smtp"'), format="toml")


def test_oauth_on_an_imap_interface_loads_and_dumps_without_its_secrets() -> None:
    text = """
[[interfaces]]
name = "m365"
protocol = "imap"
server = "outlook.office365.com"
login = "support@example.com"

[interfaces.oauth]
provider = "microsoft"
tenant = "example.com"
client_id = "app"
refresh_token_file = "/run/secrets/m365-refresh"
"""
    config = load_config(text, format="toml")
    (interface,) = config.interfaces
    assert interface.protocol is MailProtocol.IMAP
    assert interface.oauth is not None
    assert interface.oauth.refresh_token_file == "/run/secrets/m365-refresh"
    assert load_config(dump_config(config, format="toml"), format="toml") == config


def test_a_deliver_interface_needs_no_server_or_login() -> None:
    from mailtrack import MailProtocol

    interface = MailInterface(name="pipe", protocol=MailProtocol.DELIVER, project="helpdesk")
    assert (interface.server, interface.login) == ("", "")
    loaded = load_config({"interfaces": [{"name": "pipe", "protocol": "deliver"}]})
    assert loaded.interfaces[0].protocol is MailProtocol.DELIVER
    with pytest.raises(ConfigError, match="login: must not be empty"):
        MailInterface(name="pop", server="pop.example.com")
    with pytest.raises(ConfigError, match="line breaks"):
        MailInterface(name="pipe", protocol=MailProtocol.DELIVER, server="x\r\nQUIT")


def test_runs_pass_deliver_interfaces_by() -> None:
    from mailtrack import Importer, MailProtocol

    pipe = MailInterface(name="pipe", protocol=MailProtocol.DELIVER)
    assert Importer().run_all([pipe]) == []
    report = Importer().run(pipe)
    assert report.error is not None
    assert "no mailbox to poll" in report.error
