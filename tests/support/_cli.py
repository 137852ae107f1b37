"""What the CLI tests of issue #18's items share: the test password, ``invoke``, ``ok`` and an
``[[interfaces]]`` entry for a POP3TestServer (``tests/cli/test_cli.py`` keeps its own)."""

from __future__ import annotations

from click.testing import CliRunner, Result

from mailtrack.cli import cli
from mailtrack.testing import POP3TestServer

__all__ = ["PASSWORD", "PASSWORD_VARIABLE", "interface_entry", "invoke", "ok"]

PASSWORD = "correct horse battery staple"
PASSWORD_VARIABLE = "MAILTRACK_TEST_PASSWORD"


def invoke(*args: str, input: str | None = None) -> Result:
    """Run ``mailtrack ARGS`` in-process, 200 columns wide, without the caller's MAILTRACK_* settings."""
    env: dict[str, str | None] = {
        "COLUMNS": "200",
        PASSWORD_VARIABLE: PASSWORD,
        "MAILTRACK_CONFIG": None,
        "MAILTRACK_STORE": None,
    }
    return CliRunner().invoke(cli, list(args), env=env, input=input)


def ok(result: Result) -> str:
    """The output of a command that must have succeeded."""
    assert result.exit_code == 0, result.output
    return result.output


def interface_entry(server: POP3TestServer, *extra: str) -> str:
    """An ``[[interfaces]]`` entry named ``support`` for *server* (plain text: loopback only)."""
    lines = [
        "[[interfaces]]",
        'name = "support"',
        f'server = "{server.host}"',
        f"port = {server.port}",
        'login = "support"',
        'security = "none"',
        "timeout = 10.0",
        *extra,
    ]
    if not any(line.startswith("password") for line in extra):
        lines.append(f'password_env = "{PASSWORD_VARIABLE}"')
    return "\n".join(lines) + "\n"
