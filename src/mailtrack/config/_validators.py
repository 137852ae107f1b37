"""The validators and converters the configuration classes share: each failure is a
:class:`~mailtrack.ConfigError` that names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..exceptions import ConfigError

__all__ = [
    "as_str_mapping",
    "as_str_tuple",
    "fail",
    "instance_of",
    "non_empty",
    "positive",
    "positive_or_none",
]


def fail(attribute: attrs.Attribute[Any], reason: str) -> ConfigError:
    return ConfigError(f"{attribute.name}: {reason}")


def non_empty(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise fail(attribute, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise fail(attribute, "must not be empty")
    if any(ch in value for ch in "\r\n\x00"):
        raise fail(attribute, "must not contain line breaks or NUL")


def positive(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(attribute, f"must be a number, not {type(value).__name__}")
    if not value > 0:
        raise fail(attribute, f"must be positive, not {value!r}")


def positive_or_none(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        positive(instance, attribute, value)


def instance_of(kind: type | tuple[type, ...]) -> Any:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise fail(attribute, f"must be {expected}, not {type(value).__name__}")

    return check


def as_str_mapping(value: object) -> dict[str, str]:
    """Copy a mapping of field names to values, checking that both are strings."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"defaults: must be a mapping of field names to strings, not {type(value).__name__}"
        )
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ConfigError(f"defaults[{key!r}]: keys and values must be strings")
        result[key] = item
    return result


def as_str_tuple(value: object) -> tuple[str, ...]:
    """Turn a list or tuple of strings into a tuple (a lone string becomes a 1-tuple)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple | frozenset | set):
        raise ConfigError(f"must be a list of strings, not {type(value).__name__}")
    return tuple(str(item) for item in value)
