"""The conformance kit itself: its interface, and that it fails a connector
that breaks the contract (a kit that cannot fail proves nothing)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clientnest import SocialConnector
from clientnest.testing import get_connector_test_class
from clientnest.testing.kit import ConnectorConformance, KitSpec, tiny_mp4, tiny_png
from clientnest.testing.template import create_connector_plugin


def test_the_class_it_returns() -> None:
    class Demo(SocialConnector):
        name = "demo"
        version = "1.0"

    cls = get_connector_test_class(Demo, config={"x": 1})
    assert issubclass(cls, ConnectorConformance) and cls.__test__ is True
    assert ConnectorConformance.__test__ is False
    spec = cls._clientnest_kit
    assert spec.connector_class is Demo and spec.config == {"x": 1}
    checks = {n for n in dir(cls) if n.startswith("test_")}
    assert {"test_oauth_round_trip", "test_lookup_is_exact", "test_rate_limit_is_not_sent_with_retry_time",
            "test_runs_inside_an_rq_job", "test_comments_with_paging"} <= checks
    with pytest.raises(TypeError):
        get_connector_test_class(object)  # type: ignore[arg-type]


def test_sandbox_sources() -> None:
    def app(environ: object, start_response: object) -> list[bytes]:
        return []

    class Factory:
        def __call__(self, environ: object, start_response: object) -> list[bytes]:
            return []

    assert KitSpec(SocialConnector, sandbox=app).make_sandbox() is app
    assert isinstance(KitSpec(SocialConnector, sandbox=Factory).make_sandbox(), Factory)
    made = object()
    assert KitSpec(SocialConnector, sandbox=lambda: made).make_sandbox() is made


def test_media_it_publishes_is_real() -> None:
    from PIL import Image
    import io

    image = Image.open(io.BytesIO(tiny_png(3)))
    assert image.size == (1, 1) and image.format == "PNG"
    assert tiny_mp4()[4:8] == b"ftyp"


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"template changed: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new))


def test_the_kit_fails_a_broken_connector(tmp_path: Path) -> None:
    root = create_connector_plugin("brokendemo", tmp_path)
    package = root / "clientnest_brokendemo"
    # a 429 taken for a refusal, and a lookup that never finds anything
    _break(package / "errors.py", "if status == 429 or (status == 503",
           "if status == 429:\n        return PermanentError(message, **kw)\n    if (status == 503")
    _break(package / "connector.py", "        text = _text(content)\n        params",
           "        return None\n        text = _text(content)\n        params")
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("CLIENTNEST_TEST_REDIS_URL", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                          str(root / "tests")], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stdout[-3000:]
    failed = {line.split("::")[-1].split(" ")[0] for line in run.stdout.splitlines() if line.startswith("FAILED")}
    assert failed == {"test_rate_limit_is_not_sent_with_retry_time", "test_lookup_is_exact",
                      "test_ambiguous_publish_is_found_by_lookup"}, run.stdout[-3000:]
