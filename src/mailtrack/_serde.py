"""Loading and dumping configuration: dicts, JSON and TOML, through one private cattrs converter.

Serialisation is kept off the classes. Unknown keys and wrong types are refused with
:class:`~mailtrack.ConfigError` naming the field path (``interfaces[0].port: must be 1..65535``).
Secrets are left out of dumps unless asked for with ``include_secrets=True``.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import attrs
import cattrs
from cattrs.v import transform_error

from .config import (
    AttachmentAction,
    AttachmentLimits,
    ClassAction,
    Config,
    ImportPolicy,
    MailInterface,
    MailProtocol,
    OAuthFlow,
    OAuthSettings,
    ParseLimits,
    Route,
    Security,
    SenderPolicy,
)
from .config._inbound import (
    BasicAuthSettings,
    InboundSettings,
    MailgunSettings,
    MandrillSettings,
    SESSettings,
)
from .exceptions import ConfigError

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["dump_config", "load_config", "sqlite_path", "structure", "unstructure"]

T = TypeVar("T")
Format = Literal["dict", "json", "toml"]
_SECRET_FIELDS = frozenset({"password", "client_secret", "reply_keys", "signing_key", "webhook_key"})


def _strict(kind: type[Any], *, accept: tuple[type, ...] = ()) -> Any:
    allowed = (kind, *accept)

    def structure_strictly(value: Any, _type: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, allowed):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return kind(value)

    return structure_strictly


def _expect_table(hook: Any, what: str = "a table of settings") -> Any:
    def structure_table(value: Any, kind: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected {what}, got {type(value).__name__}")
        return hook(value, kind)

    return structure_table


def _structure_enum(value: Any, kind: type[enum.Enum]) -> enum.Enum:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in kind)
        raise ConfigError(f"{value!r} is not one of {allowed}") from None


@functools.cache
def _converter() -> cattrs.Converter:
    """The converter, made on first use (it takes a while: a program that never reads or
    writes a configuration does without it)."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    # Per enum class: they subclass str, and the strict str hook would otherwise take them.
    for kind in (Security, SenderPolicy, ClassAction, AttachmentAction, OAuthFlow, MailProtocol):
        converter.register_structure_hook(kind, _structure_enum)
        converter.register_unstructure_hook(kind, lambda member: member.value)
    converter.register_structure_hook(str, _strict(str))
    converter.register_structure_hook(int, _strict(int))
    converter.register_structure_hook(float, _strict(float, accept=(int,)))
    converter.register_structure_hook(bool, _strict(bool))

    # A lone string where a list of strings belongs means a list of one.
    str_tuple = converter.get_structure_hook(tuple[str, ...])

    def structure_str_tuple(value: Any, kind: Any) -> Any:
        return (value,) if isinstance(value, str) else str_tuple(value, kind)

    converter.register_structure_hook_func(lambda kind: kind == tuple[str, ...], structure_str_tuple)
    str_mapping = converter.get_structure_hook(Mapping[str, str])
    converter.register_structure_hook_func(
        lambda kind: kind == Mapping[str, str], _expect_table(str_mapping, "a table of names to strings")
    )
    # Sections last, so that their generated hooks use the field hooks above.
    sections = (
        ImportPolicy,
        AttachmentLimits,
        ParseLimits,
        OAuthSettings,
        Route,
        MailInterface,
        *(BasicAuthSettings, MailgunSettings, MandrillSettings, SESSettings, InboundSettings),
        Config,
    )
    for section in sections:
        converter.register_structure_hook(section, _expect_table(converter.get_structure_hook(section)))
    return converter


def _describe(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s): {', '.join(sorted(exc.extra_fields))}"
    return str(exc)


def _config_error(exc: BaseException) -> ConfigError:
    lines = []
    for line in transform_error(exc, path="", format_exception=_describe):
        message, _, where = line.rpartition(" @ ")
        where = where.lstrip(".")
        # A validator's message starts with the field's own name: join it to the path.
        if where and ":" in message and not message.startswith(("required", "unknown")):
            lines.append(f"{where}.{message}")
        elif where:
            lines.append(f"{where}: {message}")
        else:
            lines.append(message)
    return ConfigError("; ".join(lines))


def structure(data: Any, kind: type[T]) -> T:
    """Build a *kind* (an attrs config class) from plain data, raising ConfigError with paths."""
    try:
        return _converter().structure(data, kind)
    except ConfigError:
        raise
    except Exception as exc:  # cattrs groups every field error; report them all
        raise _config_error(exc) from exc


def unstructure(value: Any, *, include_secrets: bool = False) -> Any:
    """Plain data for a config value; secrets are dropped unless *include_secrets*."""
    data = _converter().unstructure(value)
    if not include_secrets:
        data = _strip_secrets(data)
    return data


def _strip_secrets(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_secrets(v) for k, v in data.items() if k not in _SECRET_FIELDS}
    if isinstance(data, list | tuple):
        return [_strip_secrets(item) for item in data]
    return data


def _drop_none(data: Any) -> Any:
    # TOML has no null: an absent key means "default" when loading back.
    if isinstance(data, dict):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_drop_none(item) for item in data]
    return data


def _read(source: Mapping[str, Any] | str | os.PathLike[str], fmt: Format | None) -> Any:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, str) and fmt in {"json", "toml"}:
        text, name = source, f"<{fmt} text>"
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {str(path)!r}: {exc.strerror}") from exc
        name = str(path)
        fmt = fmt or ("json" if path.suffix.lower() == ".json" else "toml")
    try:
        return json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{name}: not valid {fmt.upper() if fmt else 'TOML'}: {exc}") from exc


@overload
def load_config(
    source: Mapping[str, Any] | str | os.PathLike[str], *, format: Format | None = None
) -> Config: ...
@overload
def load_config(
    source: Mapping[str, Any] | str | os.PathLike[str], *, format: Format | None = None, kind: type[T]
) -> T: ...
def load_config(
    source: Mapping[str, Any] | str | os.PathLike[str],
    *,
    format: Format | None = None,
    kind: type[Any] = Config,
) -> Any:
    """Load a configuration from a dict, a JSON or TOML file path, or JSON/TOML text.

    Args:
        source: a mapping; a path (``.json`` is JSON, anything else TOML); or text with *format*.
        format: ``"json"`` or ``"toml"`` to read *source* as text of that format.
        kind: what to build: :class:`~mailtrack.Config` (the default),
            :class:`~mailtrack.MailInterface` or :class:`~mailtrack.ImportPolicy`.

    Raises:
        ConfigError: the file is unreadable or invalid, a key is unknown or a value wrong; the
            message names the field path, e.g. ``interfaces[0].port: must be 1..65535``.

    Relative paths in a configuration file (a SQLite ``store`` such as
    ``sqlite:///mailtrack.db``, ``password_file``, ``ca_file``) are taken relative to the
    folder of that file, not to the current directory.
    """
    loaded = structure(_read(source, format), kind)
    if isinstance(source, Mapping) or (isinstance(source, str) and format is not None):
        return loaded
    return _relative_to(Path(source).absolute().parent, loaded)


def _relative_to(folder: Path, value: Any) -> Any:
    """*value* (a Config, MailInterface or inbound settings) with its relative file paths made
    relative to *folder*."""
    if isinstance(value, Config):
        return attrs.evolve(
            value,
            store=sqlite_relative_to(folder, value.store),
            interfaces=[_relative_to(folder, interface) for interface in value.interfaces],
            inbound=_relative_to(folder, value.inbound),
        )
    if isinstance(value, InboundSettings):
        return attrs.evolve(
            value, **{name: _relative_to(folder, getattr(value, name)) for name in value.services}
        )
    if isinstance(value, MailInterface | BasicAuthSettings | MailgunSettings | MandrillSettings):
        changes: dict[str, Any] = {
            field.name: str(folder / path)
            for field in attrs.fields(type(value))
            if field.name.endswith("_file")
            if (path := getattr(value, field.name)) is not None and not Path(path).expanduser().is_absolute()
        }
        return attrs.evolve(value, **changes) if changes else value
    return value


def sqlite_path(url: str) -> str | None:
    """The file path of a SQLite store URL (``"x.db"`` for ``sqlite:///x.db``), or ``None`` for
    other stores, in-memory databases and ``file:`` URIs."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower().partition("+")[0] != "sqlite" or not rest.startswith("/"):
        return None
    path = rest[1:].partition("?")[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def sqlite_relative_to(folder: Path, url: str) -> str:
    """A SQLite URL whose file path is relative (``sqlite:///x.db``) made relative to *folder*;
    any other URL unchanged."""
    path = sqlite_path(url)
    if path is None or Path(path).is_absolute():
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}:///{folder / path}{rest[1 + len(path) :]}"


def dump_config(
    config: Config | MailInterface | ImportPolicy,
    *,
    format: Format = "dict",
    include_secrets: bool = False,
) -> Any:
    """Dump a configuration as a dict, JSON text or TOML text.

    Passwords are left out unless *include_secrets* is True; ``load_config`` reads the result back.
    TOML output needs the ``tomli-w`` package (``pip install mailtrack[toml]``).
    """
    if not attrs.has(type(config)):
        raise ConfigError(f"cannot dump {type(config).__name__}: not a mailtrack configuration")
    data = unstructure(config, include_secrets=include_secrets)
    if format == "dict":
        return data
    if format == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    if format == "toml":
        try:
            import tomli_w
        except ImportError as exc:
            raise ConfigError("dumping TOML needs tomli-w: pip install 'mailtrack[toml]'") from exc
        return tomli_w.dumps(_drop_none(data))
    raise ConfigError(f"format: must be 'dict', 'json' or 'toml', not {format!r}")
