"""Which extra installs a missing module: a command that needs one says so in one line
(``pip install 'mailtrack[sql]'``) instead of a traceback or a "bug in mailtrack".

Imports nothing beyond the standard library: ``mailtrack deliver`` and the entry point use it
before click is known to be installed.
"""

from __future__ import annotations

__all__ = ["missing_extra"]

#: The top-level module, and the extra of pyproject.toml that installs it.
_EXTRA_OF_MODULE = {
    "click": "cli",
    "rich": "cli",
    "sqlalchemy": "sql",
    "alembic": "sql",
    "psycopg": "postgresql",
    "pymysql": "mysql",
    "nh3": "html",
    "tomli_w": "toml",
    "oauthlib": "oauth",
    "jwt": "oauth",
    "starlette": "web",
    "jinja2": "web",
    "multipart": "web",
    "python_multipart": "inbound",  # python-multipart 0.0.13 and later, which the inbound extra asks for
    "uvicorn": "web",
    "cryptography": "inbound",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """What to install for *exc* (``"the sql extra is not installed (no module sqlalchemy): pip
    install 'mailtrack[sql]'"``), or ``None`` when the module is none of the extras' (then it is
    a bug, not a missing install)."""
    module = (exc.name or "").partition(".")[0]
    extra = _EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    return f"the {extra} extra is not installed (no module {module}): pip install 'mailtrack[{extra}]'"
