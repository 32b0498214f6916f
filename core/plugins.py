"""The plugin host: builds the pluggy manager from entry points and settings.

Built by :func:`build_plugin_host`, never at import time. Rules:

* entry-point group ``clientnest``; the entry point's name is the plugin's name;
* ``Settings.plugins`` (allowlist) and ``Settings.disabled_plugins`` (blocklist):
  a plugin left out is never imported, only listed as disabled;
* a plugin that fails to import, or whose hooks do not match a spec, is
  reported by name with its error and left out; with ``strict_plugins`` start-up
  fails instead. A misspelled hook is always caught by ``check_pending``;
* two plugins registering the same platform or provider name fail start-up.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import builtin, hookspecs, offline_ai
from .ai import AIProvider
from .config import ConfigSchema
from .connector import Capability, SocialConnector
from .errors import ConfigError, PluginError
from .settings import Settings

__all__ = ["PluginInfo", "PluginHost", "build_plugin_host", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "clientnest"
log = logging.getLogger(__name__)


@dataclass
class PluginInfo:
    """What ``clientnest plugins`` and ``GET /api/v1/plugins`` show."""

    name: str
    version: str | None = None
    distribution: str | None = None
    kind: str = "extension"  # connector | ai_provider | extension
    enabled: bool = True
    hooks: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    error: str | None = None
    #: settings (environment names) it needs but does not have: loaded, yet
    #: not usable until they are set
    missing_settings: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``enabled``, ``not configured``, ``disabled`` or ``error``."""
        if self.error:
            return "error"
        if not self.enabled:
            return "disabled"
        return "not configured" if self.missing_settings else "enabled"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "kind": self.kind,
            "enabled": self.enabled,
            "hooks": list(self.hooks),
            "platforms": list(self.platforms),
            "error": self.error,
            "configured": self.enabled and not self.missing_settings,
            "missing_settings": list(self.missing_settings),
        }


class PluginHost:
    """The loaded plugins, their connector/provider classes, and the hook relay."""

    def __init__(self, settings: Settings, pm: pluggy.PluginManager) -> None:
        self.settings = settings
        self.pm = pm
        self.plugins: dict[str, PluginInfo] = {}
        self.connector_classes: dict[str, type[SocialConnector]] = {}
        self.provider_classes: dict[str, type[AIProvider]] = {}
        self._owner: dict[str, str] = {}
        self._instances: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @property
    def hook(self) -> Any:
        return self.pm.hook

    # -- instances -------------------------------------------------------------
    def _raw_config(self, kind: str, name: str, cls: type) -> dict[str, Any]:
        raw = self.settings.plugin_settings(name)
        if kind == "connector" and self.settings.sandbox:
            # sandbox mode: point at /sandbox/<name>; explicit settings win
            base = f"{self.settings.public_url.rstrip('/')}/sandbox/{name}"
            raw = {**cls.sandbox_config(base), **raw}
        return raw

    def missing_settings(self, kind: str, name: str, cls: type) -> list[str]:
        """The environment names of the settings ``name`` lacks, each with
        what it is needed for (``CLIENTNEST_X_CLIENT_ID (connecting accounts)``)."""
        schema: ConfigSchema = cls.config_schema
        return [f"CLIENTNEST_{name.upper()}_{f.name.upper()}" + (f" ({f.needed_for})" if f.needed_for else "")
                for f in schema.missing(self._raw_config(kind, name, cls))]

    def _instance(self, kind: str, name: str, cls: type) -> Any:
        key = (kind, name)
        inst = self._instances.get(key)
        if inst is None:
            with self._lock:
                inst = self._instances.get(key)
                if inst is None:
                    schema: ConfigSchema = cls.config_schema
                    config = schema.validate(name, self._raw_config(kind, name, cls))
                    inst = cls(config)
                    self._instances[key] = inst
        return inst

    def connector(self, platform: str) -> SocialConnector:
        """The process-wide connector of ``platform`` (configured on first use)."""
        try:
            cls = self.connector_classes[platform]
        except KeyError:
            raise ConfigError(f"no connector for platform {platform!r} is enabled") from None
        return self._instance("connector", platform, cls)

    def provider(self, name: str) -> AIProvider:
        try:
            cls = self.provider_classes[name]
        except KeyError:
            raise ConfigError(f"no AI provider {name!r} is enabled") from None
        return self._instance("provider", name, cls)

    def platforms(self) -> list[str]:
        return sorted(self.connector_classes)

    def owner_of(self, name: str) -> str | None:
        """The plugin that registered a platform or provider name."""
        return self._owner.get(name)

    def close(self) -> None:
        for inst in self._instances.values():
            try:
                inst.close()
            except Exception:  # closing must not mask the shutdown reason
                log.exception("closing %s failed", type(inst).__name__)
        self._instances.clear()


def _dist_of(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _check_class(plugin: str, cls: Any, base: type, kind: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(plugin, f"{kind} hook returned {cls!r}, not a {base.__name__} subclass")
    if not cls.name or not isinstance(cls.name, str):
        raise PluginError(plugin, f"{cls.__name__} declares no name")
    if not cls.version:
        raise PluginError(plugin, f"{cls.__name__} declares no version")
    if not isinstance(cls.config_schema, ConfigSchema):
        raise PluginError(plugin, f"{cls.__name__}.config_schema is not a ConfigSchema")
    if base is SocialConnector:
        bad = [c for c in cls.capabilities if not isinstance(c, Capability)]
        if bad:
            raise PluginError(plugin, f"{cls.__name__} declares unknown capabilities {bad}")


def build_plugin_host(
    settings: Settings,
    *,
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    extra_plugins: Sequence[tuple[str, ModuleType | object]] = (),
) -> PluginHost:
    """Load the plugins allowed by ``settings`` and return the host.

    :param settings: allowlist, blocklist and strictness come from here.
    :param entry_points: override discovery (tests); default: the installed
        entry points of group ``clientnest``.
    :param extra_plugins: ``(name, plugin)`` pairs registered as if found
        through entry points (used by tests and embedded tooling).
    :raises PluginError: duplicate names, a misspelled hook, or (strict) any
        plugin that fails to load.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name=builtin.NAME)
    # The bundled offline AI provider: always loaded (not subject to the
    # allowlist), so AI answers without a key; listed like any other plugin.
    pm.register(offline_ai, name=offline_ai.NAME)
    host = PluginHost(settings, pm)
    host.plugins[offline_ai.NAME] = PluginInfo(
        name=offline_ai.NAME, version=offline_ai.__version__, distribution="clientnest",
        hooks=["clientnest_register_ai_providers"],
    )

    eps = list(entry_points) if entry_points is not None else list(
        metadata.entry_points(group=ENTRY_POINT_GROUP)
    )
    allow = set(settings.plugins) if settings.plugins is not None else None
    block = set(settings.disabled_plugins)

    candidates: list[tuple[str, Any, str | None, str | None]] = []
    for ep in sorted(eps, key=lambda e: e.name):
        dist, version = _dist_of(ep)
        candidates.append((ep.name, ep, dist, version))
    for name, plugin in extra_plugins:
        candidates.append((name, plugin, None, getattr(plugin, "__version__", None)))

    for name, source, dist, version in candidates:
        info = PluginInfo(name=name, version=version, distribution=dist)
        host.plugins[name] = info
        if name in block or (allow is not None and name not in allow):
            info.enabled = False
            pm.set_blocked(name)  # a later register() of this name is refused
            continue
        plugin: Any = None
        try:
            plugin = source.load() if isinstance(source, metadata.EntryPoint) else source
            pm.register(plugin, name=name)
        except Exception as exc:  # report by name, keep starting
            info.error = f"{type(exc).__name__}: {exc}"
            info.enabled = False
            if pm.has_plugin(name):  # a hook that failed validation half-registers
                pm.unregister(name=name)
            log.error("plugin %s failed to load: %s", name, info.error)
            if settings.strict_plugins:
                raise PluginError(name, info.error) from exc
            continue
        info.hooks = sorted(
            h.name for h in pm.get_hookcallers(plugin) or () if h.name.startswith("clientnest_")
        )

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        bad = pm.get_name(exc.plugin) or "?"
        raise PluginError(bad, f"implements an unknown hook: {exc}") from None

    _collect(host, "clientnest_register_connectors", SocialConnector, host.connector_classes, "connector")
    _collect(host, "clientnest_register_ai_providers", AIProvider, host.provider_classes, "ai_provider")
    return host


def _collect(host: PluginHost, hook_name: str, base: type, into: dict[str, type], kind: str) -> None:
    caller = getattr(host.pm.hook, hook_name)
    for impl in caller.get_hookimpls():
        plugin_name = impl.plugin_name
        info = host.plugins.get(plugin_name)
        try:
            classes = impl.function() or []
            for cls in classes:
                _check_class(plugin_name, cls, base, kind)
        except PluginError:
            raise
        except Exception as exc:
            err = f"{hook_name} failed: {type(exc).__name__}: {exc}"
            if host.settings.strict_plugins or info is None:
                raise PluginError(plugin_name, err) from exc
            info.error, info.enabled = err, False
            host.pm.unregister(name=plugin_name)
            continue
        for cls in classes:
            other = host._owner.get(cls.name)
            if other is not None:
                raise PluginError(
                    plugin_name,
                    f"{kind} name {cls.name!r} is already registered by plugin {other!r}",
                )
            host._owner[cls.name] = plugin_name
            into[cls.name] = cls
            if info is not None:
                info.kind = kind
                info.platforms.append(cls.name)
                info.missing_settings.extend(host.missing_settings(kind, cls.name, cls))
                if info.version is None:
                    info.version = cls.version
