"""The connector conformance kit: every check the bundled connectors pass.

A partner opts in with two lines in a test module::

    pytest_plugins = ["clientnest.testing.pytest_plugin"]
    TestMyNetwork = get_connector_test_class(MyConnector, config={...})

:func:`get_connector_test_class` returns a pytest test class. It serves the
connector's sandbox (``MyConnector.sandbox()`` unless ``sandbox=`` is given)
on a local port with :func:`clientnest.testing.server.serve`, configures the
connector with ``MyConnector.sandbox_config(url)`` updated by ``config``, and
checks, calling operations through the hooks (as the core does):

* the declared ``name``, ``version``, ``display_name``, ``capabilities`` and rules,
  that a method exists for every declared capability, and that a publishing
  connector can reconcile (``LOOKUP``);
* that the plugin host accepts the class through ``clientnest_register_connectors``;
* the config schema: unknown, missing and mistyped settings are refused,
  credentials are marked secret and never shown;
* the sandbox's control interface (:mod:`clientnest.testing.faults`);
* the OAuth round trip (authorize URL, the sandbox's redirect with ``state``
  and ``code``, code exchange), refresh;
* each declared capability: publish text, link, image(s), video, thread, first
  comment; lookup (exact: the right post, not another one, not an older one);
  delete; metrics; comments with paging; reply;
* the error classes, with the sandbox's faults: 429 and 503 are
  :class:`~clientnest.errors.NotSentError` with a ``retry_at``; 500, 502 and 504
  are transient; an expired token is an :class:`~clientnest.errors.AuthError`;
  duplicate content is a :class:`~clientnest.errors.PermanentError` with the
  platform's message; an unreachable platform is ``NotSentError``; a timeout
  or a dropped connection after the platform acted is
  :class:`~clientnest.errors.AmbiguousError`, and the lookup then finds the post;
* running inside an RQ job: the job's arguments and result survive RQ's JSON
  serializer, and with ``CLIENTNEST_TEST_REDIS_URL`` set, a real
  ``SimpleWorker`` on that Redis runs the job (skipped, saying so, without it).

Documented in ``docs/writing-a-connector.md``.
"""
from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import socket
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ..config import ConfigSchema
from ..connector import (
    Account,
    AccountMetrics,
    Capability,
    Comment,
    CommentPage,
    Credentials,
    MediaItem,
    PostContent,
    PostMetrics,
    PublishResult,
    SocialConnector,
)
from ..errors import AmbiguousError, AuthError, ConfigError, NotSentError, PermanentError, TransientError
from ..hookspecs import hookimpl
from ..plugins import PluginHost, build_plugin_host
from ..settings import Settings
from .server import serve

__all__ = [
    "get_connector_test_class",
    "ConnectorConformance",
    "KitSpec",
    "KitContext",
    "SandboxClient",
    "run_publish_job",
    "REDIS_ENV",
]

REDIS_ENV = "CLIENTNEST_TEST_REDIS_URL"
REDIRECT_URI = "http://127.0.0.1:9/clientnest/oauth/callback"
KIT_PLUGIN = "clientnest-conformance"
_SECRETISH = re.compile(r"(secret|token|password|passwd|private_key|api_key|apikey)", re.I)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: settings about a credential that are not one (token_url, refresh_token_ttl ...)
_NOT_SECRET_SUFFIXES = ("_url", "_uri", "_base", "_endpoint", "_path", "_ttl", "_seconds", "_days")

#: the methods a declared capability promises
CAPABILITY_METHODS: dict[Capability, tuple[str, ...]] = {
    Capability.OAUTH: ("authorization_url", "complete_authorization"),
    Capability.REFRESH: ("refresh",),
    Capability.PUBLISH_TEXT: ("publish",),
    Capability.PUBLISH_LINK: ("publish",),
    Capability.PUBLISH_IMAGE: ("publish",),
    Capability.PUBLISH_MULTI_IMAGE: ("publish",),
    Capability.PUBLISH_VIDEO: ("publish",),
    Capability.PUBLISH_THREAD: ("publish",),
    Capability.FIRST_COMMENT: ("publish",),
    Capability.DELETE: ("delete",),
    Capability.METRICS: ("fetch_metrics",),
    Capability.ACCOUNT_METRICS: ("fetch_account_metrics",),
    Capability.COMMENTS: ("fetch_comments",),
    Capability.REPLY: ("reply",),
    Capability.LOOKUP: ("find_published",),
}
PUBLISHING = frozenset({
    Capability.PUBLISH_TEXT, Capability.PUBLISH_LINK, Capability.PUBLISH_IMAGE,
    Capability.PUBLISH_MULTI_IMAGE, Capability.PUBLISH_VIDEO, Capability.PUBLISH_THREAD,
})


# -- media the kit publishes -----------------------------------------------------------------

def tiny_png(seed: int = 0) -> bytes:
    """A valid 1x1 PNG (a different colour per seed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    pixel = bytes([0, seed % 256, (seed * 7) % 256, (seed * 13) % 256])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixel)) + chunk(b"IEND", b""))


def tiny_mp4() -> bytes:
    """The header boxes of an MP4 (sandboxes do not decode video)."""
    ftyp = struct.pack(">I", 24) + b"ftypmp42" + struct.pack(">I", 0) + b"mp42isom"
    mdat = struct.pack(">I", 8 + 1024) + b"mdat" + bytes(1024)
    return ftyp + mdat


class _MediaServer:
    """Serves the kit's media at ``/<id>`` so platforms that fetch by URL can."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        item = self.files.get(environ.get("PATH_INFO", "").strip("/"))
        if item is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", item[0]), ("Content-Length", str(len(item[1])))])
        return [item[1]]


# -- the sandbox's control interface ------------------------------------------------------------

class SandboxClient:
    """The standard control routes of a sandbox (see :mod:`clientnest.testing.faults`)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=10)

    def arm(self, **fault: Any) -> dict[str, Any]:
        r = self.http.post("/_sandbox/faults", json=fault)
        assert r.status_code == 201, f"the sandbox refused fault {fault}: {r.status_code} {r.text}"
        return r.json()

    def faults(self) -> list[dict[str, Any]]:
        return self.http.get("/_sandbox/faults").json()["faults"]

    def clear_faults(self) -> None:
        r = self.http.delete("/_sandbox/faults")
        assert r.status_code == 204, f"DELETE /_sandbox/faults answered {r.status_code}"

    def reset(self) -> None:
        r = self.http.post("/_sandbox/reset", json={})
        assert r.status_code == 204, f"POST /_sandbox/reset answered {r.status_code}"

    def comment(self, post_id: str, text: str, reply_to: str | None = None) -> str:
        body = {"post_id": post_id, "text": text, **({"reply_to": reply_to} if reply_to else {})}
        r = self.http.post("/_sandbox/comments", json=body)
        assert r.status_code == 201, f"POST /_sandbox/comments answered {r.status_code} {r.text}"
        return str(r.json()["id"])

    def set_metrics(self, post_id: str, metrics: Mapping[str, int]) -> bool:
        """``False`` when the sandbox has no metrics control (404)."""
        r = self.http.post("/_sandbox/metrics", json={"post_id": post_id, "metrics": dict(metrics)})
        if r.status_code == 404 and "no metrics" in r.text:
            return False
        assert r.status_code == 204, f"POST /_sandbox/metrics answered {r.status_code} {r.text}"
        return True

    def token(self) -> dict[str, Any]:
        r = self.http.post("/_sandbox/tokens", json={})
        assert r.status_code == 201, f"POST /_sandbox/tokens answered {r.status_code} {r.text}"
        return r.json()

    def close(self) -> None:
        self.http.close()


# -- the hook relay ----------------------------------------------------------------------------

class _Registration:
    """A plugin registering one connector class, as an entry point would."""

    def __init__(self, cls: type[SocialConnector]) -> None:
        self.cls = cls

    @hookimpl
    def clientnest_register_connectors(self) -> list[type[SocialConnector]]:
        return [self.cls]


def relay_for(cls: type[SocialConnector]) -> PluginHost:
    """A plugin host holding only ``cls`` (plus the core's own hook implementations)."""
    settings = Settings(plugins=(KIT_PLUGIN,), sandbox=False, strict_plugins=True)
    return build_plugin_host(settings, entry_points=[], extra_plugins=[(KIT_PLUGIN, _Registration(cls))])


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "external_id": account.external_id, "credentials": account.credentials.to_json(),
        "display_name": account.display_name, "username": account.username, "kind": account.kind,
        "extra": account.extra,
    }


def _account_from_json(data: Mapping[str, Any]) -> Account:
    return Account(
        external_id=str(data["external_id"]), credentials=Credentials.from_json(data["credentials"]),
        display_name=str(data.get("display_name") or ""), username=data.get("username"),
        kind=str(data.get("kind") or "user"), extra=dict(data.get("extra") or {}),
    )


def _media_from_json(items: list[Mapping[str, Any]]) -> list[MediaItem]:
    out = []
    for m in items:
        url = str(m["url"])
        out.append(MediaItem(
            id=str(m["id"]), kind=str(m["kind"]), content_type=str(m["content_type"]), size=int(m["size"]),
            width=m.get("width"), height=m.get("height"), url=url,
            read=lambda url=url: httpx.get(url, timeout=10).content,
        ))
    return out


def _load(ref: str) -> type[SocialConnector]:
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def run_publish_job(connector: str, config: dict[str, Any], account: dict[str, Any],
                    text: str, media: list[dict[str, Any]]) -> dict[str, Any]:
    """An RQ job, as the core's jobs are: a module-level function taking JSON.

    :param connector: ``"module:Class"`` of the connector.
    :returns: ``{"external_id", "url"}`` of the published post.
    """
    cls = _load(connector)
    instance = cls(cls.config_schema.validate(cls.name, config))
    try:
        result = relay_for(cls).hook.clientnest_publish(
            connector=instance, account=_account_from_json(account),
            content=PostContent(text=text, media=_media_from_json(media), key=uuid.uuid4().hex))
    finally:
        instance.close()
    return {"external_id": result.external_id, "url": result.url}


# -- what a test class carries -----------------------------------------------------------------

@dataclass
class KitSpec:
    """What :func:`get_connector_test_class` was given."""

    connector_class: type[SocialConnector]
    sandbox: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    redirect_uri: str = REDIRECT_URI

    def make_sandbox(self) -> Any:
        source = self.sandbox
        if source is None:
            app = self.connector_class.sandbox()
            if app is None:
                pytest.fail(f"{self.connector_class.__name__}.sandbox() returned None: the kit needs a sandbox "
                            "(see docs/writing-a-connector.md)")
            return app
        if isinstance(source, type):
            return source()
        if callable(source):
            try:
                params = [p for p in inspect.signature(source).parameters.values()
                          if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            except (TypeError, ValueError):
                params = [None, None]
            if not params:
                return source()  # a factory: a fresh sandbox per test class
        return source


class KitContext:
    """One served sandbox, a configured connector, an account, the hook relay."""

    def __init__(self, spec: KitSpec, base_url: str, media_url: str, media: _MediaServer) -> None:
        self.spec = spec
        self.cls = spec.connector_class
        self.base_url = base_url
        self.media_url = media_url
        self._media = media
        self.sandbox = SandboxClient(base_url)
        self.raw_config = {**self.cls.sandbox_config(base_url), **spec.config}
        self.config = self.cls.config_schema.validate(self.cls.name, self.raw_config)
        self.connector = self.cls(self.config)
        self.host = relay_for(self.cls)
        self.hook = self.host.hook
        self._account: Account | None = None
        self._seq = 0

    @classmethod
    @contextmanager
    def open(cls, spec: KitSpec) -> Iterator[KitContext]:
        with ExitStack() as stack:
            media = _MediaServer()
            base = stack.enter_context(serve(spec.make_sandbox()))
            media_url = stack.enter_context(serve(media))
            ctx = cls(spec, base, media_url, media)
            stack.callback(ctx.close)
            yield ctx

    def close(self) -> None:
        self.connector.close()
        self.sandbox.close()

    # -- helpers the checks share ------------------------------------------------------
    def has(self, *capabilities: Capability) -> bool:
        return all(c in self.cls.capabilities for c in capabilities)

    def require(self, *capabilities: Capability) -> None:
        missing = [c.value for c in capabilities if c not in self.cls.capabilities]
        if missing:
            pytest.skip(f"{self.cls.__name__} does not declare {', '.join(missing)}")

    def unique_text(self, label: str = "post") -> str:
        self._seq += 1
        return f"ClientNest conformance {label} {self._seq} {uuid.uuid4().hex[:10]}"

    def connector_with(self, **overrides: Any) -> SocialConnector:
        raw = {**self.raw_config, **overrides}
        return self.cls(self.cls.config_schema.validate(self.cls.name, raw))

    def media(self, kind: str = "image", seed: int = 0) -> MediaItem:
        mid = f"kit-{kind}-{uuid.uuid4().hex[:8]}"
        if kind == "video":
            data, ctype = tiny_mp4(), "video/mp4"
        else:
            data, ctype = tiny_png(seed), "image/png"
        self._media.files[mid] = (ctype, data)
        return MediaItem(id=mid, kind=kind, content_type=ctype, size=len(data), width=1, height=1,
                         url=f"{self.media_url}/{mid}", read=lambda data=data: data)

    def content(self, label: str = "post", **kw: Any) -> PostContent:
        """The simplest post this connector can publish (with an image where
        the platform requires media)."""
        if "media" not in kw and (self.cls.rules.requires_media or not self.has(Capability.PUBLISH_TEXT)):
            kw["media"] = [self.media("image")]
        return PostContent(text=kw.pop("text", None) or self.unique_text(label), key=uuid.uuid4().hex, **kw)

    def require_publish(self) -> None:
        if not (self.has(Capability.PUBLISH_TEXT) or self.has(Capability.PUBLISH_IMAGE)):
            pytest.skip(f"{self.cls.__name__} declares neither publish_text nor publish_image")

    @property
    def account(self) -> Account:
        if self._account is None:
            self._account = self.connect()
        return self._account

    @account.setter
    def account(self, value: Account) -> None:
        self._account = value

    def connect(self) -> Account:
        """An account of the sandbox: through OAuth where declared, else with
        the sandbox's ``POST /_sandbox/tokens`` and ``connect_with_token``."""
        if self.has(Capability.OAUTH):
            accounts = self.oauth_round_trip(self.connector)
        else:
            accounts = self.connector.connect_with_token(self.sandbox.token())
        assert accounts, "connecting returned no account"
        return accounts[0]

    def oauth_round_trip(self, connector: SocialConnector) -> list[Account]:
        state = uuid.uuid4().hex
        request = self.hook.clientnest_oauth_begin(connector=connector, redirect_uri=self.spec.redirect_uri, state=state)
        assert request is not None and request.url.startswith(("http://", "https://")), "no authorize URL"
        answer = httpx.get(request.url, follow_redirects=False, timeout=10)
        assert answer.status_code in (301, 302, 303, 307), (
            f"the sandbox's authorize page should approve at once with a redirect, got {answer.status_code}: {answer.text[:200]}")
        location = answer.headers["location"]
        assert location.startswith(self.spec.redirect_uri), f"redirected to {location!r}, not to the redirect URI"
        query = parse_qs(urlsplit(location).query)
        assert query.get("state") == [state], "the redirect must echo the state unchanged"
        assert query.get("code"), "the redirect carries no code"
        accounts = self.hook.clientnest_oauth_complete(
            connector=connector, code=query["code"][0], redirect_uri=self.spec.redirect_uri, verifier=request.verifier)
        return list(accounts or [])

    def publish(self, content: PostContent, connector: SocialConnector | None = None,
                account: Account | None = None) -> PublishResult:
        result = self.hook.clientnest_publish(connector=connector or self.connector,
                                              account=account or self.account, content=content)
        assert isinstance(result, PublishResult), f"publish returned {result!r}"
        assert isinstance(result.external_id, str) and result.external_id, "publish returned no external_id"
        return result

    def find(self, content: PostContent, since: datetime, connector: SocialConnector | None = None) -> PublishResult | None:
        return self.hook.clientnest_find_published(connector=connector or self.connector, account=self.account,
                                                   content=content, since=since)

    def publish_failure(self, connector: SocialConnector | None = None, **fault: Any) -> Exception:
        """Arm ``fault``, publish, return what was raised (the check fails if nothing is)."""
        self.require_publish()
        self.account  # connect before arming: the fault is for the publish
        self.sandbox.arm(**fault)
        content = self.content("fault")
        try:
            result = self.publish(content, connector=connector)
        except Exception as exc:  # the check inspects the class
            return exc
        finally:
            self.sandbox.clear_faults()
        pytest.fail(f"publish succeeded ({result.external_id}) despite the fault {fault}")


# -- the checks --------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(UTC)


def _dead_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


class ConnectorConformance:
    """The checks. Use :func:`get_connector_test_class`; do not subclass directly."""

    __test__ = False
    _clientnest_kit: KitSpec

    # -- declarations ---------------------------------------------------------------------
    def test_declares_name_version_and_capabilities(self, connector_kit: KitContext) -> None:
        from packaging.version import InvalidVersion, Version

        cls = connector_kit.cls
        assert _NAME.match(cls.name or ""), f"name {cls.name!r}: lower-case letters, digits, underscores"
        try:
            Version(cls.version)
        except InvalidVersion:
            pytest.fail(f"version {cls.version!r} is not a PEP 440 version")
        assert cls.display_name, "display_name is empty"
        assert cls.capabilities, "no capabilities declared"
        assert all(isinstance(c, Capability) for c in cls.capabilities), "capabilities must be Capability members"
        assert cls.rules.max_length > 0, "rules.max_length must be positive"
        for capability in cls.capabilities:
            for method in CAPABILITY_METHODS.get(capability, ()):
                assert getattr(cls, method) is not getattr(SocialConnector, method), (
                    f"{capability.value} is declared but {cls.__name__}.{method} is not implemented")
        if cls.capabilities & PUBLISHING:
            assert Capability.LOOKUP in cls.capabilities, (
                "a connector that publishes must declare lookup: the engine reconciles every ambiguous publish with it")

    def test_registers_through_the_plugin_host(self, connector_kit: KitContext) -> None:
        cls = connector_kit.cls
        assert connector_kit.host.platforms() == [cls.name]
        assert connector_kit.host.connector_classes[cls.name] is cls
        rules = connector_kit.hook.clientnest_platform_rules(connector=connector_kit.connector)
        assert rules is not None and rules.max_length == cls.rules.max_length

    def test_config_schema_rejects_bad_config(self, connector_kit: KitContext) -> None:
        cls, schema = connector_kit.cls, connector_kit.cls.config_schema
        good = dict(connector_kit.raw_config)
        with pytest.raises(ConfigError, match="no_such_setting"):
            schema.validate(cls.name, {**good, "no_such_setting": "x"})
        for f in schema.fields:
            if f.required and f.default is None:
                with pytest.raises(ConfigError, match=f.name):
                    schema.validate(cls.name, {k: v for k, v in good.items() if k != f.name})
            if f.type in (int, float):
                with pytest.raises(ConfigError, match=f.name):
                    schema.validate(cls.name, {**good, f.name: "not-a-number"})
            if f.type is bool:
                with pytest.raises(ConfigError, match=f.name):
                    schema.validate(cls.name, {**good, f.name: "perhaps"})
        # the sandbox settings make a valid connector, so the embedded mode can start
        assert isinstance(connector_kit.connector, cls)

    def test_config_schema_marks_secrets(self, connector_kit: KitContext) -> None:
        schema: ConfigSchema = connector_kit.cls.config_schema
        for f in schema.fields:
            if _SECRETISH.search(f.name) and not f.name.endswith(_NOT_SECRET_SUFFIXES):
                assert f.secret, f"setting {f.name!r} looks like a credential: mark it secret=True"
        shown = schema.redact({f.name: "value-that-must-not-show" for f in schema.fields})
        described = schema.describe()
        for f in schema.fields:
            if f.secret:
                assert shown[f.name] == "***"
                assert next(d for d in described if d["name"] == f.name)["default"] is None
                if f.type is not str:
                    with pytest.raises(ConfigError) as info:
                        schema.validate(connector_kit.cls.name, {**connector_kit.raw_config, f.name: "leaky-secret-value"})
                    assert "leaky-secret-value" not in str(info.value)

    def test_sandbox_control_interface(self, connector_kit: KitContext) -> None:
        sandbox = connector_kit.sandbox
        bad = sandbox.http.post("/_sandbox/faults", json={"kind": "no-such-kind"})
        assert bad.status_code == 400, "an unknown fault kind must be refused with 400"
        armed = sandbox.arm(status=503, retry_after=5, times=2)
        assert armed["kind"] == "unavailable" and armed["times"] == 2
        assert [f["id"] for f in sandbox.faults()] == [armed["id"]]
        sandbox.clear_faults()
        assert sandbox.faults() == []

    # -- connecting -----------------------------------------------------------------------
    def test_oauth_round_trip(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.OAUTH)
        accounts = connector_kit.oauth_round_trip(connector_kit.connector)
        assert accounts, "the code exchange returned no account"
        for account in accounts:
            assert isinstance(account, Account) and account.external_id
            assert account.credentials.access_token
            assert account.credentials.access_token not in repr(account.credentials)
            if account.credentials.expires_at is not None:
                assert account.credentials.expires_at.tzinfo is not None, "expires_at must be aware UTC"
                assert account.credentials.expires_at > _now()

    def test_refresh_gives_working_credentials(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.REFRESH)
        account = connector_kit.account
        new = connector_kit.hook.clientnest_refresh_credentials(connector=connector_kit.connector, account=account)
        assert isinstance(new, Credentials) and new.access_token
        assert new.access_token != account.credentials.access_token, "refresh returned the same access token"
        connector_kit.account = replace(account, credentials=new)  # as the core stores it
        if connector_kit.has(Capability.PUBLISH_TEXT) or connector_kit.has(Capability.PUBLISH_IMAGE):
            connector_kit.publish(connector_kit.content("after refresh"))

    # -- publishing -----------------------------------------------------------------------
    def test_publish_text(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.PUBLISH_TEXT)
        result = connector_kit.publish(connector_kit.content("text"))
        if result.published_at is not None:
            assert result.published_at.tzinfo is not None, "published_at must be aware"

    def test_publish_link(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.PUBLISH_LINK)
        connector_kit.publish(connector_kit.content("link", link=f"https://example.com/kit/{uuid.uuid4().hex[:8]}"))

    def test_publish_image(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.PUBLISH_IMAGE)
        connector_kit.publish(connector_kit.content("image", media=[connector_kit.media("image", 1)]))

    def test_publish_multi_image(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.PUBLISH_MULTI_IMAGE)
        media = [connector_kit.media("image", i) for i in range(2)]
        connector_kit.publish(connector_kit.content("images", media=media))

    def test_publish_video(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.PUBLISH_VIDEO)
        connector_kit.publish(connector_kit.content("video", media=[connector_kit.media("video")]))

    def test_publish_thread(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.PUBLISH_THREAD)
        thread = [connector_kit.unique_text("reply 1"), connector_kit.unique_text("reply 2")]
        result = connector_kit.publish(connector_kit.content("thread", thread=thread))
        ids = result.extra_ids.get("thread")
        assert isinstance(ids, list) and len(ids) == 2 and all(ids), (
            "a thread's reply ids belong in extra_ids['thread'], in order")
        assert result.external_id not in ids

    def test_first_comment(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.FIRST_COMMENT)
        result = connector_kit.publish(connector_kit.content("first comment", first_comment=connector_kit.unique_text("comment")))
        assert result.extra_ids.get("first_comment"), "the first comment's id belongs in extra_ids['first_comment']"

    # -- reconciliation ---------------------------------------------------------------------
    def test_lookup_is_exact(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.LOOKUP)
        connector_kit.require_publish()
        since = _now() - timedelta(seconds=2)
        content = connector_kit.content("lookup")
        published = connector_kit.publish(content)
        found = connector_kit.find(content, since)
        assert found is not None, "lookup did not find the post just published (a duplicate would follow)"
        assert found.external_id == published.external_id
        other = replace(content, text=connector_kit.unique_text("never published"))
        assert connector_kit.find(other, since) is None, "lookup matched a post with another text (a post would be lost)"
        assert connector_kit.find(content, _now() + timedelta(minutes=1)) is None, (
            "lookup matched a post published before `since`")

    def test_ambiguous_publish_is_found_by_lookup(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.LOOKUP)
        connector_kit.require_publish()
        account = connector_kit.account
        since = _now() - timedelta(seconds=2)
        checked = 0
        # the platform acts, then the connection drops before the answer
        content = connector_kit.content("dropped")
        connector_kit.sandbox.arm(kind="disconnect", publish=True)
        with pytest.raises(AmbiguousError):
            connector_kit.publish(content, account=account)
        found = connector_kit.find(content, since)
        assert found is not None, "a post the platform created before the connection dropped was not found"
        checked += 1
        # the platform acts, then answers after the connector's timeout
        timeout_field = next((f for f in connector_kit.cls.config_schema.fields
                              if f.name == "timeout" and f.type in (int, float)), None)
        if timeout_field is not None:
            quick = connector_kit.connector_with(timeout=1)
            try:
                content = connector_kit.content("slow")
                connector_kit.sandbox.arm(kind="slow", delay=2.5, publish=True)
                with pytest.raises(AmbiguousError):
                    connector_kit.publish(content, connector=quick, account=account)
                assert connector_kit.find(content, since) is not None, "a post answered after the timeout was not found"
                checked += 1
            finally:
                quick.close()
        assert checked >= 1

    # -- after publishing ---------------------------------------------------------------------
    def test_delete(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.DELETE)
        connector_kit.require_publish()
        since = _now() - timedelta(seconds=2)
        content = connector_kit.content("delete")
        published = connector_kit.publish(content)
        done = connector_kit.hook.clientnest_delete_post(
            connector=connector_kit.connector, account=connector_kit.account, external_id=published.external_id)
        assert done is True
        if connector_kit.has(Capability.LOOKUP):
            assert connector_kit.find(content, since) is None, "a deleted post is still found by lookup"

    def test_metrics(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.METRICS)
        connector_kit.require_publish()
        published = connector_kit.publish(connector_kit.content("metrics"))
        controlled = connector_kit.sandbox.set_metrics(published.external_id, {"likes": 7})
        metrics = connector_kit.hook.clientnest_fetch_metrics(
            connector=connector_kit.connector, account=connector_kit.account, external_ids=[published.external_id])
        assert isinstance(metrics, list) and len(metrics) == 1, f"expected one PostMetrics, got {metrics!r}"
        m = metrics[0]
        assert isinstance(m, PostMetrics) and m.external_id == published.external_id
        for name in PostMetrics.NAMES:
            value = getattr(m, name)
            assert value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0), (
                f"{name} = {value!r}: a non-negative int or None")
        if controlled:
            assert m.likes == 7, "likes set in the sandbox were not read back"
        json.dumps(m.raw, default=str)  # raw must be storable

    def test_account_metrics(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.ACCOUNT_METRICS)
        m = connector_kit.hook.clientnest_fetch_account_metrics(
            connector=connector_kit.connector, account=connector_kit.account)
        assert isinstance(m, AccountMetrics), f"expected AccountMetrics, got {m!r}"
        assert str(m.external_id) == str(connector_kit.account.external_id)
        assert m.period in ("day", "lifetime"), f"period {m.period!r}: 'day' or 'lifetime'"
        for name in AccountMetrics.NAMES:
            value = getattr(m, name)
            assert value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0), (
                f"{name} = {value!r}: a non-negative int or None (missing is None, never a made-up 0)")
        json.dumps(m.raw, default=str)  # raw must be storable

    def test_comments_with_paging(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.COMMENTS)
        connector_kit.require_publish()
        published = connector_kit.publish(connector_kit.content("comments"))
        texts = [connector_kit.unique_text(f"comment {i}") for i in range(3)]
        ids = [connector_kit.sandbox.comment(published.external_id, t) for t in texts]
        seen: dict[str, Comment] = {}
        cursor: str | None = None
        for _ in range(50):
            page = connector_kit.hook.clientnest_fetch_comments(
                connector=connector_kit.connector, account=connector_kit.account,
                external_id=published.external_id, cursor=cursor)
            assert isinstance(page, CommentPage)
            for comment in page.comments:
                assert comment.external_id not in seen, f"comment {comment.external_id} returned twice"
                assert comment.post_external_id == published.external_id
                seen[comment.external_id] = comment
            cursor = page.next_cursor
            if not cursor:
                break
        else:
            pytest.fail("comment paging did not end after 50 pages")
        assert set(ids) <= set(seen), f"comments {sorted(set(ids) - set(seen))} were not fetched"
        assert {seen[i].text for i in ids} == set(texts)

    def test_reply(self, connector_kit: KitContext) -> None:
        connector_kit.require(Capability.REPLY)
        connector_kit.require_publish()
        published = connector_kit.publish(connector_kit.content("reply target"))
        comment_id = connector_kit.sandbox.comment(published.external_id, connector_kit.unique_text("question"))
        text = connector_kit.unique_text("answer")
        reply = connector_kit.hook.clientnest_reply_to_comment(
            connector=connector_kit.connector, account=connector_kit.account,
            comment_external_id=comment_id, text=text)
        assert isinstance(reply, Comment) and reply.external_id and reply.external_id != comment_id
        assert reply.text == text

    # -- error classes ------------------------------------------------------------------------
    def test_rate_limit_is_not_sent_with_retry_time(self, connector_kit: KitContext) -> None:
        before = _now()
        exc = connector_kit.publish_failure(status=429, retry_after=120)
        assert isinstance(exc, NotSentError), f"a 429 must be NotSentError, got {type(exc).__name__}: {exc}"
        assert exc.retry_at is not None, "a 429 must carry retry_at from the platform's rate-limit headers"
        assert before < exc.retry_at <= before + timedelta(minutes=10)

    def test_unavailable_with_retry_after_is_not_sent(self, connector_kit: KitContext) -> None:
        before = _now()
        exc = connector_kit.publish_failure(status=503, retry_after=30)
        assert isinstance(exc, NotSentError), f"a 503 with Retry-After must be NotSentError, got {type(exc).__name__}"
        assert exc.retry_at is not None
        assert before + timedelta(seconds=20) <= exc.retry_at <= _now() + timedelta(seconds=40)

    @pytest.mark.parametrize("status", [500, 502, 504])
    def test_server_errors_are_transient(self, connector_kit: KitContext, status: int) -> None:
        exc = connector_kit.publish_failure(status=status)
        assert isinstance(exc, TransientError), f"a {status} must be transient, got {type(exc).__name__}: {exc}"

    def test_expired_token_is_auth_error(self, connector_kit: KitContext) -> None:
        exc = connector_kit.publish_failure(kind="expired_token")
        assert isinstance(exc, AuthError), f"an expired token must be AuthError, got {type(exc).__name__}: {exc}"

    def test_duplicate_is_permanent_with_platform_message(self, connector_kit: KitContext) -> None:
        exc = connector_kit.publish_failure(kind="duplicate")
        assert isinstance(exc, PermanentError), f"duplicate content must be PermanentError, got {type(exc).__name__}"
        assert exc.message.strip(), "a permanent error must carry the platform's message"

    def test_unreachable_platform_is_not_sent(self, connector_kit: KitContext) -> None:
        connector_kit.require_publish()
        account = connector_kit.account
        dead = connector_kit.connector_with(**connector_kit.cls.sandbox_config(_dead_url()))
        try:
            with pytest.raises(NotSentError):
                connector_kit.publish(connector_kit.content("unreachable"), connector=dead, account=account)
        finally:
            dead.close()

    # -- jobs -----------------------------------------------------------------------------------
    def _job_args(self, kit: KitContext) -> list[Any]:
        ref = f"{kit.cls.__module__}:{kit.cls.__qualname__}"
        if "<locals>" in ref:
            pytest.skip(f"{kit.cls.__qualname__} is defined inside a function: a job cannot import it")
        content = kit.content("job")
        media = [{"id": m.id, "kind": m.kind, "content_type": m.content_type, "size": m.size, "url": m.url}
                 for m in content.media]
        return [ref, dict(kit.raw_config), _account_json(kit.account), content.text, media]

    def test_job_arguments_survive_rq_serialization(self, connector_kit: KitContext) -> None:
        connector_kit.require_publish()
        from rq.serializers import JSONSerializer

        args = self._job_args(connector_kit)
        decoded = JSONSerializer.loads(JSONSerializer.dumps(args))
        result = run_publish_job(*decoded)
        assert JSONSerializer.loads(JSONSerializer.dumps(result)) == result
        assert result["external_id"]

    def test_runs_inside_an_rq_job(self, connector_kit: KitContext) -> None:
        connector_kit.require_publish()
        url = os.environ.get(REDIS_ENV)
        if not url:
            pytest.skip(f"set {REDIS_ENV} (e.g. redis://127.0.0.1:6379/15) to run this job on a real RQ worker")
        from redis import Redis
        from rq import Queue, SimpleWorker
        from rq.serializers import JSONSerializer

        connection = Redis.from_url(url)
        queue = Queue(f"clientnest-kit-{uuid.uuid4().hex[:10]}", connection=connection, serializer=JSONSerializer)
        job = None
        try:
            job = queue.enqueue(run_publish_job, *self._job_args(connector_kit), job_timeout=120)
            # the job carries the sandbox's credentials: keep them out of the worker's log
            SimpleWorker([queue], connection=connection, serializer=JSONSerializer,
                         log_job_description=False).work(burst=True)
            job.refresh()
            assert job.is_finished, f"the job ended {job.get_status()}: {job.latest_result()}"
            assert job.return_value()["external_id"]
        finally:
            # leave nothing behind in a Redis others may share
            if job is not None:
                job.delete()
            registries = (queue.finished_job_registry, queue.failed_job_registry, queue.started_job_registry,
                          queue.deferred_job_registry, queue.scheduled_job_registry, queue.canceled_job_registry)
            connection.delete(*(r.key for r in registries))
            queue.delete(delete_jobs=True)
            connection.close()


def get_connector_test_class(
    connector_class: type[SocialConnector],
    *,
    sandbox: Any = None,
    config: Mapping[str, Any] | None = None,
    redirect_uri: str = REDIRECT_URI,
) -> type:
    """The conformance checks for ``connector_class``, as a pytest test class.

    :param connector_class: the :class:`~clientnest.SocialConnector` subclass.
    :param sandbox: a WSGI app, or a zero-argument factory of one (a fresh
        sandbox per test class); default ``connector_class.sandbox()``.
    :param config: settings applied over ``connector_class.sandbox_config(url)``.
    :param redirect_uri: the OAuth redirect URI the round trip uses (never fetched).
    :returns: a class to bind to a ``Test...`` name in a test module that has
        ``pytest_plugins = ["clientnest.testing.pytest_plugin"]``.
    """
    if not (isinstance(connector_class, type) and issubclass(connector_class, SocialConnector)):
        raise TypeError(f"{connector_class!r} is not a SocialConnector subclass")
    spec = KitSpec(connector_class, sandbox, dict(config or {}), redirect_uri)
    name = f"Test{connector_class.__name__}Conformance"
    return type(name, (ConnectorConformance,), {"__test__": True, "_clientnest_kit": spec})
