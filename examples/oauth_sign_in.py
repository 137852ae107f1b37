"""OAuth 2.0 sign-in (XOAUTH2), end to end, against local servers: no provider account needed.

This is ``docs/howto/gmail-microsoft365.md`` from an empty folder to a successful ``mailtrack
check``, with the provider replaced by two servers on 127.0.0.1 from :mod:`mailtrack.testing`:

* ``OAuthTestServer``: an OAuth 2.0 authorization server (token, device-code and introspection
  endpoints, over HTTPS with a test CA), standing in for Microsoft Entra ID;
* ``POP3TestServer(check_token=…)``: a POP3 server that accepts ``AUTH XOAUTH2`` with the tokens
  that authorization server issued, as Exchange Online does.

The script writes ``mailtrack.toml`` into an empty folder, runs ``mailtrack oauth login support``
(the device-code sign-in: the local server approves it at once), ``mailtrack check support``
(which shows the account and the token's expiry) and ``mailtrack run support``, each as a user
would type it. No Dovecot, no root.

Run it with (needs ``pip install 'mailtrack[cli,oauth,testing]'``)::

    python examples/oauth_sign_in.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mailtrack.testing import OAuthTestServer, POP3TestServer, build_message

MAILBOX = "support@example.com"


def mailtrack(folder: Path, *args: str, secret: str) -> str:
    """Run the ``mailtrack`` command in *folder*, as a user would; its output."""
    command = [sys.executable, "-c", "from mailtrack.cli import main; main()", *args]
    environment = {**os.environ, "SUPPORT_CLIENT_SECRET": secret, "COLUMNS": "200"}
    done = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=120)
    print(f"$ mailtrack {' '.join(args)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        raise SystemExit(f"mailtrack {args[0]} failed with status {done.returncode}")
    return done.stdout


def main() -> None:
    mail = [build_message(subject="Printer on the second floor is jammed")]
    with (
        OAuthTestServer(sign_in_as=MAILBOX) as provider,
        POP3TestServer(
            mail, user=MAILBOX, tls="implicit", check_token=provider.check_token, sasl_mechanisms=("XOAUTH2",)
        ) as pop,
        tempfile.TemporaryDirectory() as empty,
    ):
        folder = Path(empty)
        # With Microsoft 365 the [interfaces.oauth] table is just provider, tenant and client_id:
        # the endpoints come from the preset. Here they point at the local authorization server.
        (folder / "mailtrack.toml").write_text(
            f"""\
store = "sqlite:///{folder / "mailtrack.db"}"

[[interfaces]]
name = "support"
server = "{pop.host}"
port = {pop.port}
security = "ssl"
ca_file = "{pop.ca_file}"
login = "{MAILBOX}"

[interfaces.oauth]
client_id = "{provider.client_id}"
client_secret_env = "SUPPORT_CLIENT_SECRET"
token_url = "{provider.token_url}"
device_authorization_url = "{provider.url("devicecode")}"
token_file = "{folder / "support-token.json"}"
ca_file = "{provider.ca_file}"
""",
            encoding="utf-8",
        )
        mailtrack(folder, "oauth", "login", "support", secret=provider.client_secret)
        checked = mailtrack(folder, "check", "support", secret=provider.client_secret)
        assert f"signed in as {MAILBOX}" in checked
        mailtrack(folder, "run", "support", secret=provider.client_secret)
        assert pop.mailbox == [], "the message was imported and deleted on the server"
        assert all(login.mechanism == "XOAUTH2" and login.trusted for login in pop.sasl_logins)
        assert oct((folder / "support-token.json").stat().st_mode & 0o777) == "0o600"
        print("OK: signed in with XOAUTH2, checked and imported; the tokens are in a 0600 file.")


if __name__ == "__main__":
    main()
