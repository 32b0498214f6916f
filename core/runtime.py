"""The per-process runtime: settings, database, plugins, vault, storage.

The Flask app builds one in ``create_app``; a worker or the scheduler builds
one at start. Job functions take ids and reach the runtime through
:func:`current`, so the same functions run under RQ and in-process.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import events
from .crypto import Vault, load_or_create_key
from .db import Database
from .plugins import PluginHost, build_plugin_host
from .settings import Settings, load_settings

__all__ = ["Runtime", "build_runtime", "current", "set_current"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    plugins: PluginHost
    vault: Vault
    #: set by clientnest.queue when first needed
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for value in self.extras.values():
            close = getattr(value, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.exception("closing %r failed", value)
        self.plugins.close()
        self.db.dispose()


def build_runtime(settings: Settings | None = None, **plugin_kw: Any) -> Runtime:
    settings = settings or load_settings()
    if settings.embedded or not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    keys = settings.fernet_keys
    if not keys:
        if settings.database_url and not settings.embedded:
            # Production must bring its own key: a generated one on one machine
            # would make credentials unreadable on the next.
            from .errors import ConfigError

            raise ConfigError(
                "CLIENTNEST_FERNET_KEYS must be set outside the embedded mode (it encrypts platform "
                "credentials; every process needs the same keys). Make one with: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
        keys = (load_or_create_key(settings.data_dir),)
    runtime = Runtime(
        settings=settings,
        db=Database(settings.resolved_database_url()),
        plugins=build_plugin_host(settings, **plugin_kw),
        vault=Vault(keys),
    )
    events.attach(runtime)  # status changes committed through it reach open streams
    return runtime


_current: Runtime | None = None
_lock = threading.Lock()


def set_current(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    """The process's runtime; a worker process builds it from the environment."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = build_runtime()
    return _current
