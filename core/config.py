"""Declarative configuration schemas for plugins.

A plugin declares the settings it takes as a :class:`ConfigSchema` of
:class:`ConfigField` values. The core reads the values from the environment
(``CLIENTNEST_<PLUGIN>_<FIELD>``) or the config file (``[plugins.<plugin>]``),
validates them here, and never logs or returns a field marked ``secret``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

__all__ = ["ConfigField", "ConfigSchema"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class ConfigField:
    """One setting of a plugin.

    :param name: lower-case identifier, e.g. ``client_secret``.
    :param type: one of ``str``, ``int``, ``float``, ``bool``.
    :param required: whether a value must be given (a default counts).
    :param secret: never shown in logs, API responses or ``clientnest plugins``.
    :param default: the value when none is given.
    :param help: one line for the docs.
    :param needed_for: what cannot work without it although the plugin loads
        (e.g. ``"connecting accounts"``); an unset one makes ``clientnest
        plugins`` report the plugin as not configured, naming the setting.
    """

    name: str
    type: type = str
    required: bool = False
    secret: bool = False
    default: Any = None
    help: str = ""
    needed_for: str = ""

    def coerce(self, plugin: str, raw: Any) -> Any:
        if isinstance(raw, self.type) and not (self.type is int and isinstance(raw, bool)):
            return raw
        text = str(raw).strip()
        try:
            if self.type is bool:
                low = text.lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(text)
            if self.type is int:
                return int(text)
            if self.type is float:
                return float(text)
            return text
        except ValueError:
            shown = "<secret>" if self.secret else repr(raw)
            raise ConfigError(
                f"plugin {plugin!r}: setting {self.name!r} must be {self.type.__name__}, got {shown}"
            ) from None


@dataclass(frozen=True)
class ConfigSchema:
    """The settings a plugin takes; validates a mapping of raw values."""

    fields: tuple[ConfigField, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate config field names in {names}")

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.secret)

    def validate(self, plugin: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Return the typed configuration or raise :class:`ConfigError` naming
        the first wrong field. Unknown keys are rejected, so a typo is caught."""
        known = {f.name for f in self.fields}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"plugin {plugin!r}: unknown setting(s) {', '.join(unknown)}")
        out: dict[str, Any] = {}
        for f in self.fields:
            value = raw.get(f.name)
            if value is None or (isinstance(value, str) and value == "" and f.type is not str):
                value = f.default
            if value is None:
                if f.required:
                    raise ConfigError(f"plugin {plugin!r}: setting {f.name!r} is required")
                out[f.name] = None
                continue
            out[f.name] = f.coerce(plugin, value)
        return out

    def missing(self, raw: Mapping[str, Any]) -> list[ConfigField]:
        """The required or needed fields that ``raw`` leaves unset (and that
        have no default): what an operator must still provide."""
        return [f for f in self.fields
                if (f.required or f.needed_for) and f.default is None and raw.get(f.name) in (None, "")]

    def redact(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A copy safe to show: secrets replaced by ``"***"`` when set."""
        return {
            k: ("***" if k in self.secret_names and v not in (None, "") else v)
            for k, v in values.items()
        }

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": f.name,
                "type": f.type.__name__,
                "required": f.required,
                "secret": f.secret,
                "default": None if f.secret else f.default,
                "help": f.help,
                "needed_for": f.needed_for,
            }
            for f in self.fields
        ]
