"""Settings, read once from the environment and an optional TOML file.

Precedence: explicit overrides (``create_app(test_config=...)``) > environment
(``CLIENTNEST_*``, ``DATABASE_URL``, ``REDIS_URL``) > the file named by
``CLIENTNEST_CONFIG`` > defaults. Defaults are the embedded mode: SQLite under
``./var``, in-process jobs, local media, platform sandboxes.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["Settings", "load_settings"]


def _split(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    else:
        items = [v.strip() for v in str(value).split(",")]
    return tuple(v for v in items if v)


@dataclass(frozen=True)
class Settings:
    #: where var files live in embedded mode (SQLite db, media, generated keys)
    data_dir: str = "var"
    database_url: str = ""
    #: empty = embedded: jobs run in-process, no Redis needed
    redis_url: str = ""
    #: Fernet keys, newest first; older keys still decrypt (rotation)
    fernet_keys: tuple[str, ...] = ()
    #: public base URL of this API, used to build OAuth redirect URIs and media URLs
    public_url: str = "http://127.0.0.1:8000"
    #: base URLs (besides ``public_url``) an OAuth ``redirect_uri`` may point
    #: under, e.g. the web app's own origin; anything else is refused
    oauth_redirect_allowlist: tuple[str, ...] = ()
    #: allowlist of plugin names; None = every installed plugin
    plugins: tuple[str, ...] | None = None
    disabled_plugins: tuple[str, ...] = ()
    strict_plugins: bool = False
    #: raw per-plugin settings from the config file, [plugins.<name>]
    plugin_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    media_storage: str = "local"  # local | s3
    media_max_bytes: int = 512 * 1024 * 1024
    media_max_image_bytes: int = 8 * 1024 * 1024
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_public_url: str = ""
    #: login attempts per account and client address together, and
    #: registrations per client address, per minute
    login_rate_limit: int = 10
    #: login attempts per client address (any account) per minute
    login_address_rate_limit: int = 30
    #: members one admin may add per minute (unknown emails answer like known ones)
    member_add_rate_limit: int = 20
    #: workspaces one user may own (registration's first one included); 0: no limit
    max_workspaces_per_user: int = 10
    #: the highest monthly AI budget (USD) a workspace may be given
    ai_budget_max_usd: float = 1000.0
    #: how late a missed post may still go out, seconds (default 6 h)
    max_lateness_seconds: int = 6 * 3600
    #: seconds a worker may hold a target in "publishing" before it is reconciled
    publish_lease_seconds: int = 120
    max_publish_attempts: int = 5
    dispatch_interval_seconds: float = 1.0
    #: first retry delay after a "not sent" failure; doubles per attempt, with jitter
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    #: wait before asking the platform about an ambiguous publish (it may lag)
    reconcile_delay_seconds: float = 5.0
    #: a target queued this long with no job in Redis is enqueued again
    requeue_grace_seconds: float = 60.0
    #: tokens expiring within this window are refreshed ahead by a job
    refresh_ahead_seconds: int = 600
    #: targets one dispatcher claims per round
    dispatch_batch_size: int = 500
    #: how long a page of the posts list may be served again (0: never)
    posts_list_cache_seconds: float = 1.0
    #: targets one publish job takes at most (RQ's own cost per job is then
    #: shared); a small claim is spread over several jobs instead, and a job
    #: hands what it has not started to a new job after a few seconds
    publish_job_targets: int = 10
    #: threads of the in-process job runner (embedded mode)
    job_threads: int = 4
    #: run the dispatcher as a thread of the app (embedded mode)
    embedded_dispatcher: bool = True
    #: embedded mode points connectors at their in-process sandboxes
    sandbox: bool = True
    idempotency_ttl_seconds: int = 24 * 3600
    # -- memory bounds (issue 9): every buffer a request can fill has a size --
    #: largest body a JSON (or any non-upload) route accepts; a bigger one is
    #: refused with 413 before it is read (uploads have media_max_bytes)
    json_max_bytes: int = 1024 * 1024
    #: largest body a platform webhook may send; refused unread above it
    webhook_max_bytes: int = 1024 * 1024
    #: images are decoded in full before they are accepted; one with more
    #: pixels than this (per frame) is refused from its header, undecoded
    media_max_image_pixels: int = 50_000_000
    #: bytes of pages the in-process posts list cache keeps at most (the
    #: oldest go first); pages also leave once their TTL has passed
    posts_list_cache_max_bytes: int = 32 * 1024 * 1024
    #: AI provider answering requests; "" = the first configured one, and the
    #: bundled offline provider when none has a key
    ai_provider: str = ""
    #: how long an identical AI request is answered from the response cache
    ai_cache_ttl_seconds: int = 24 * 3600
    log_level: str = "INFO"
    #: live event streams: a comment is sent this often on a quiet stream
    #: (keeps proxies from closing it), and the caller's token and membership
    #: are checked again this often (a revoked session or a removed member
    #: stops hearing events)
    events_heartbeat_seconds: float = 15.0
    events_recheck_seconds: float = 60.0
    #: outside the embedded mode the API's sync workers do not hold event
    #: streams (``clientnest events`` serves them); set to serve them anyway
    api_serves_events: bool = False
    #: the built web app (``npm run build`` in web/); a relative path is looked
    #: up in the working directory, then in the source tree
    web_dist_dir: str = "web/dist"
    #: hours after publishing at which a target's metrics are collected
    metrics_schedule_hours: tuple[float, ...] = (1.0, 6.0, 24.0, 72.0, 168.0)
    #: comment polls: every ``comment_poll_fast_minutes`` for the first
    #: ``comment_poll_fast_hours``, then every ``comment_poll_slow_hours`` until
    #: ``comment_poll_until_hours`` after publishing
    comment_poll_fast_minutes: float = 30.0
    comment_poll_fast_hours: float = 48.0
    comment_poll_slow_hours: float = 6.0
    comment_poll_until_hours: float = 168.0
    #: pages of comments one poll reads at most (the rest waits for the next poll)
    comment_poll_max_pages: int = 20
    #: consecutive failures after which a follow-up stops (comments: skips to its next poll)
    followup_max_attempts: int = 5
    #: how often each connected account's own figures are collected (hours)
    account_metrics_interval_hours: float = 24.0
    #: raw metric and account snapshots older than this are purged (rollups are kept for good); 0 keeps them all
    analytics_raw_retention_days: int = 400
    #: comments scored per AI call
    sentiment_batch_size: int = 25
    #: wait before AI work is tried again after the workspace's budget ran out
    ai_budget_retry_seconds: int = 3600

    @property
    def embedded(self) -> bool:
        return not self.redis_url

    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Heroku-style URLs name the driver implicitly; we ship psycopg 3.
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://"):]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
            return url
        return f"sqlite:///{Path(self.data_dir).absolute() / 'clientnest.db'}"

    def plugin_settings(self, plugin: str) -> dict[str, Any]:
        """Raw settings of one plugin: file section, then ``CLIENTNEST_<PLUGIN>_<FIELD>``."""
        out = dict(self.plugin_config.get(plugin, {}))
        prefix = f"CLIENTNEST_{plugin.upper()}_"
        for key, value in os.environ.items():
            if key.startswith(prefix):
                out[key[len(prefix):].lower()] = value
        return out


_ENV: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "CLIENTNEST_DATA_DIR": "data_dir",
    "CLIENTNEST_FERNET_KEYS": "fernet_keys",
    "CLIENTNEST_PUBLIC_URL": "public_url",
    "CLIENTNEST_OAUTH_REDIRECT_ALLOWLIST": "oauth_redirect_allowlist",
    "CLIENTNEST_PLUGINS": "plugins",
    "CLIENTNEST_DISABLED_PLUGINS": "disabled_plugins",
    "CLIENTNEST_STRICT_PLUGINS": "strict_plugins",
    "CLIENTNEST_MEDIA_STORAGE": "media_storage",
    "CLIENTNEST_MEDIA_MAX_BYTES": "media_max_bytes",
    "CLIENTNEST_MEDIA_MAX_IMAGE_BYTES": "media_max_image_bytes",
    "CLIENTNEST_S3_BUCKET": "s3_bucket",
    "CLIENTNEST_S3_ENDPOINT_URL": "s3_endpoint_url",
    "CLIENTNEST_S3_PUBLIC_URL": "s3_public_url",
    "CLIENTNEST_LOGIN_RATE_LIMIT": "login_rate_limit",
    "CLIENTNEST_LOGIN_ADDRESS_RATE_LIMIT": "login_address_rate_limit",
    "CLIENTNEST_MEMBER_ADD_RATE_LIMIT": "member_add_rate_limit",
    "CLIENTNEST_MAX_WORKSPACES_PER_USER": "max_workspaces_per_user",
    "CLIENTNEST_AI_BUDGET_MAX_USD": "ai_budget_max_usd",
    "CLIENTNEST_MAX_LATENESS_SECONDS": "max_lateness_seconds",
    "CLIENTNEST_PUBLISH_LEASE_SECONDS": "publish_lease_seconds",
    "CLIENTNEST_MAX_PUBLISH_ATTEMPTS": "max_publish_attempts",
    "CLIENTNEST_DISPATCH_INTERVAL_SECONDS": "dispatch_interval_seconds",
    "CLIENTNEST_RETRY_BASE_SECONDS": "retry_base_seconds",
    "CLIENTNEST_RETRY_MAX_SECONDS": "retry_max_seconds",
    "CLIENTNEST_RECONCILE_DELAY_SECONDS": "reconcile_delay_seconds",
    "CLIENTNEST_REQUEUE_GRACE_SECONDS": "requeue_grace_seconds",
    "CLIENTNEST_REFRESH_AHEAD_SECONDS": "refresh_ahead_seconds",
    "CLIENTNEST_DISPATCH_BATCH_SIZE": "dispatch_batch_size",
    "CLIENTNEST_PUBLISH_JOB_TARGETS": "publish_job_targets",
    "CLIENTNEST_POSTS_LIST_CACHE_SECONDS": "posts_list_cache_seconds",
    "CLIENTNEST_JOB_THREADS": "job_threads",
    "CLIENTNEST_EMBEDDED_DISPATCHER": "embedded_dispatcher",
    "CLIENTNEST_SANDBOX": "sandbox",
    "CLIENTNEST_LOG_LEVEL": "log_level",
    "CLIENTNEST_WEB_DIST_DIR": "web_dist_dir",
    "CLIENTNEST_EVENTS_HEARTBEAT_SECONDS": "events_heartbeat_seconds",
    "CLIENTNEST_EVENTS_RECHECK_SECONDS": "events_recheck_seconds",
    "CLIENTNEST_API_SERVES_EVENTS": "api_serves_events",
    "CLIENTNEST_AI_PROVIDER": "ai_provider",
    "CLIENTNEST_AI_CACHE_TTL_SECONDS": "ai_cache_ttl_seconds",
    "CLIENTNEST_METRICS_SCHEDULE_HOURS": "metrics_schedule_hours",
    "CLIENTNEST_COMMENT_POLL_FAST_MINUTES": "comment_poll_fast_minutes",
    "CLIENTNEST_COMMENT_POLL_FAST_HOURS": "comment_poll_fast_hours",
    "CLIENTNEST_COMMENT_POLL_SLOW_HOURS": "comment_poll_slow_hours",
    "CLIENTNEST_COMMENT_POLL_UNTIL_HOURS": "comment_poll_until_hours",
    "CLIENTNEST_COMMENT_POLL_MAX_PAGES": "comment_poll_max_pages",
    "CLIENTNEST_FOLLOWUP_MAX_ATTEMPTS": "followup_max_attempts",
    "CLIENTNEST_SENTIMENT_BATCH_SIZE": "sentiment_batch_size",
    "CLIENTNEST_ACCOUNT_METRICS_INTERVAL_HOURS": "account_metrics_interval_hours",
    "CLIENTNEST_ANALYTICS_RAW_RETENTION_DAYS": "analytics_raw_retention_days",
    "CLIENTNEST_AI_BUDGET_RETRY_SECONDS": "ai_budget_retry_seconds",
    "CLIENTNEST_JSON_MAX_BYTES": "json_max_bytes",
    "CLIENTNEST_WEBHOOK_MAX_BYTES": "webhook_max_bytes",
    "CLIENTNEST_MEDIA_MAX_IMAGE_PIXELS": "media_max_image_pixels",
    "CLIENTNEST_POSTS_LIST_CACHE_MAX_BYTES": "posts_list_cache_max_bytes",
}


def _coerce(name: str, value: Any) -> Any:
    f = {f.name: f for f in fields(Settings)}[name]
    kind = f.type
    try:
        if name in ("plugins",):
            return _split(value)
        if name in ("disabled_plugins", "fernet_keys", "oauth_redirect_allowlist"):
            return _split(value) or ()
        if name == "metrics_schedule_hours":
            hours = tuple(sorted(float(v) for v in (_split(value) or ())))
            if any(h <= 0 for h in hours):
                raise ValueError("hours must be positive")
            return hours
        if kind == "bool":
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "str":
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}: cannot read {value!r} as {kind}") from None
    return value


def load_settings(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from file, environment and ``overrides``."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = env.get("CLIENTNEST_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"CLIENTNEST_CONFIG={path}: {exc}") from None
        section = dict(data.get("clientnest", {}))
        plugin_cfg = data.get("plugins", {})
        if plugin_cfg:
            values["plugin_config"] = {k: dict(v) for k, v in plugin_cfg.items()}
        known = {f.name for f in fields(Settings)}
        for key, value in section.items():
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r} in [clientnest]")
            values[key] = _coerce(key, value)
    for var, name in _ENV.items():
        if var in env and env[var] != "":
            values[name] = _coerce(name, env[var])
    for key, value in (overrides or {}).items():
        if key in {f.name for f in fields(Settings)}:
            values[key] = _coerce(key, value) if key != "plugin_config" else value
    for base in values.get("oauth_redirect_allowlist", ()):
        if not base.lower().startswith(("http://", "https://")) or "://" not in base or not base.split("://", 1)[1]:
            raise ConfigError(f"setting oauth_redirect_allowlist: {base!r} is not an absolute http(s) URL")
    for name in ("login_rate_limit", "login_address_rate_limit", "member_add_rate_limit"):
        if values.get(name, 1) < 1:
            raise ConfigError(f"setting {name}: must be 1 or more")
    if values.get("max_workspaces_per_user", 0) < 0 or values.get("ai_budget_max_usd", 0) < 0:
        raise ConfigError("settings max_workspaces_per_user and ai_budget_max_usd: must not be negative")
    if values.get("publish_job_targets", 1) < 1:
        raise ConfigError("setting publish_job_targets: must be 1 or more")
    for name in ("json_max_bytes", "webhook_max_bytes", "media_max_image_pixels"):
        if values.get(name, 1) < 1:
            raise ConfigError(f"setting {name}: must be 1 or more")
    # A relative data_dir means "under the directory ClientNest was started
    # in", fixed once here: helpers that resolve relative paths against
    # something else (Flask's send_file uses the package folder) never see one.
    values["data_dir"] = str(Path(values.get("data_dir", Settings.data_dir)).absolute())
    if "sandbox" not in values:
        # Sandboxes are the embedded default only: a production install (a
        # database or Redis configured) never talks to a sandbox by accident.
        values["sandbox"] = not (values.get("database_url") or values.get("redis_url"))
    return replace(Settings(), **values)
