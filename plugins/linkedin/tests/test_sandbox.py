"""The sandbox agrees with the recordings, enforces LinkedIn's protocol,
implements the standard control interface, and mounts like the embedded mode."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from clientnest import PostContent
from clientnest.errors import NotSentError
from clientnest.plugins import build_plugin_host
from clientnest.settings import Settings
from clientnest.testing.server import serve
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.versions import default_api_version
from clientnest_linkedin.sandbox import LinkedInSandbox

ORG = "urn:li:organization:2414183"
ORG_ENC = "urn%3Ali%3Aorganization%3A2414183"


def _h(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "LinkedIn-Version": default_api_version(),
            "X-Restli-Protocol-Version": "2.0.0", **extra}


@pytest.fixture
def token(sandbox: LinkedInSandbox) -> str:
    return sandbox.issue_token()


def _recorded(recording: Callable[[str], Any], name: str, index: int) -> dict[str, Any]:
    return recording(name)["interactions"][index]


def test_create_post_answers_like_linkedin(base_url: str, token: str, recording: Callable[[str], Any]) -> None:
    rec = _recorded(recording, "publish-post.json", 0)
    r = httpx.post(f"{base_url}/rest/posts", json={**rec["request_body"], "author": ORG}, headers=_h(token))
    assert r.status_code == rec["status"] == 201
    assert r.content == b""
    recorded_headers = {k.lower() for k, _ in rec["response_headers"]}
    for name in ("x-restli-id", "location", "x-restli-protocol-version"):
        assert name in recorded_headers and name in r.headers
    urn = r.headers["x-restli-id"]
    assert urn.startswith("urn:li:share:") and len(urn.rsplit(":", 1)[1]) == 19
    assert r.headers["location"] == "/posts/" + urn.replace(":", "%3A")
    assert r.headers["x-restli-protocol-version"] == "2.0.0"


def test_post_list_shape(base_url: str, token: str, sandbox: LinkedInSandbox,
                         recording: Callable[[str], Any]) -> None:
    rec = _recorded(recording, "posts.json", 0)
    for i in range(12):
        sandbox.faults.clear()
        body = {"author": ORG, "commentary": f"post {i}", "visibility": "PUBLIC", "lifecycleState": "PUBLISHED",
                "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                                 "thirdPartyDistributionChannels": []}}
        assert httpx.post(f"{base_url}/rest/posts", json=body, headers=_h(token)).status_code == 201
    r = httpx.get(f"{base_url}/rest/posts?q=author&author={ORG_ENC}&count=10&start=0", headers=_h(token))
    assert r.status_code == 200
    data = r.json()
    assert set(data) == set(rec["response_body"]) == {"paging", "elements"}
    assert set(data["paging"]) == set(rec["response_body"]["paging"])
    # the next link is built the way LinkedIn builds it
    assert data["paging"]["links"] == [{"type": "application/json", "rel": "next",
                                        "href": f"/rest/posts?q=author&author={ORG_ENC}&count=10&start=10"}]
    recorded_text_post = next(e for e in rec["response_body"]["elements"] if e["commentary"] == "Testing")
    assert set(data["elements"][0]) == set(recorded_text_post)
    assert [e["commentary"] for e in data["elements"]][:2] == ["post 11", "post 10"]
    page2 = httpx.get(f"{base_url}/rest/posts?q=author&author={ORG_ENC}&count=10&start=10", headers=_h(token)).json()
    assert [link["rel"] for link in page2["paging"]["links"]] == ["prev"] and len(page2["elements"]) == 2


def test_image_upload_shape(base_url: str, token: str, recording: Callable[[str], Any]) -> None:
    rec = _recorded(recording, "publish-post.json", 2)
    r = httpx.post(f"{base_url}/rest/images?action=initializeUpload", json=rec["request_body"] | {
        "initializeUploadRequest": {"owner": ORG}}, headers=_h(token))
    assert r.status_code == rec["status"] == 200
    value = r.json()["value"]
    assert set(value) == set(rec["response_body"]["value"])
    assert value["image"].startswith("urn:li:image:C4E10AQ")
    assert value["uploadUrl"].startswith(f"{base_url}/dms-uploads/")
    put = httpx.put(value["uploadUrl"], content=b"jpeg", headers={"Authorization": f"Bearer {token}"})
    assert put.status_code == _recorded(recording, "publish-post.json", 3)["status"] == 201
    got = httpx.get(f"{base_url}/rest/images/{value['image'].replace(':', '%3A')}", headers=_h(token)).json()
    recorded_image = next(iter(_recorded(recording, "posts.json", 1)["response_body"]["results"].values()))
    assert set(got) == set(recorded_image) and got["status"] == "AVAILABLE"


def test_comment_and_acl_shapes(base_url: str, token: str, sandbox: LinkedInSandbox,
                                recording: Callable[[str], Any]) -> None:
    r = httpx.post(f"{base_url}/rest/posts", headers=_h(token), json={
        "author": ORG, "commentary": "c", "visibility": "PUBLIC", "lifecycleState": "PUBLISHED",
        "distribution": {"feedDistribution": "MAIN_FEED"}})
    urn = r.headers["x-restli-id"]
    sandbox.add_comment(urn, "rabbit")
    got = httpx.get(f"{base_url}/rest/socialActions/{urn.replace(':', '%3A')}/comments?count=10&start=0",
                    headers=_h(token)).json()
    rec = recording("replies.json")["interactions"][0]["response_body"]
    assert set(got["paging"]) == set(rec["paging"])
    assert set(rec["elements"][0]) - {"content"} <= set(got["elements"][0])
    acl_rec = recording("publishing-profiles.json")["interactions"][0]
    acl = httpx.get(acl_rec["url"].replace("https://api.linkedin.com", base_url), headers=_h(token))
    assert acl.status_code == 200
    el = acl.json()["elements"][0]
    assert set(acl_rec["response_body"]["elements"][0]) <= set(el)
    assert set(el["organization~"]) == set(acl_rec["response_body"]["elements"][0]["organization~"])
    assert set(acl.json()["paging"]) == set(acl_rec["response_body"]["paging"])


def test_share_statistics_shape(base_url: str, token: str, recording: Callable[[str], Any]) -> None:
    airbyte = next(r["data"] for r in recording("airbyte_expected_records.jsonl") if r["stream"] == "share_statistics")
    got = httpx.get(f"{base_url}/rest/organizationalEntityShareStatistics?q=organizationalEntity"
                    f"&organizationalEntity={ORG_ENC}", headers=_h(token)).json()
    [el] = got["elements"]
    assert set(el) == set(airbyte)
    assert set(el["totalShareStatistics"]) == set(airbyte["totalShareStatistics"])


def test_error_shapes(base_url: str, token: str, recording: Callable[[str], Any]) -> None:
    r = httpx.get(f"{base_url}/v2/userinfo")
    assert r.status_code == 401 and r.json() == recording("errors.json")["docs_sample_401"]["body"]
    r = httpx.post(f"{base_url}/rest/posts", headers=_h(token), json=_recorded(
        recording, "publish-post.json", 10)["request_body"])
    rec = _recorded(recording, "publish-post.json", 10)
    assert r.status_code == 422 and r.json() == rec["response_body"]
    assert r.headers["x-restli-error-response"] == "true"


def test_protocol_is_enforced(base_url: str, token: str) -> None:
    r = httpx.get(f"{base_url}/rest/posts?q=author&author={ORG_ENC}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["code"] == "VERSION_MISSING"
    r = httpx.get(f"{base_url}/rest/posts?q=author&author={ORG_ENC}",
                  headers={"Authorization": f"Bearer {token}", "LinkedIn-Version": default_api_version()})
    assert r.status_code == 400 and "X-Restli-Protocol-Version" in r.json()["message"]
    r = httpx.get(f"{base_url}/rest/posts?q=author&author={ORG_ENC}", headers=_h(token, **{"LinkedIn-Version": "2024"}))
    assert r.status_code == 426
    # a version past LinkedIn's year is refused the way LinkedIn refuses it
    r = httpx.get(f"{base_url}/rest/posts?q=author&author={ORG_ENC}", headers=_h(token, **{"LinkedIn-Version": "202405"}))
    assert r.status_code == 426 and r.json() == {
        "status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version 202405 is not active"}
    r = httpx.get(f"{base_url}/rest/posts/urn:li:share:1", headers=_h(token))
    assert r.status_code == 400 and "URL-encoded" in r.json()["message"]
    r = httpx.get(f"{base_url}/rest/posts/urn%3Ali%3Ashare%3A1", headers=_h(token))
    assert r.status_code == 404


def test_oauth_page_needs_its_parameters(base_url: str) -> None:
    assert httpx.get(f"{base_url}/oauth/v2/authorization?client_id=x").status_code == 400
    r = httpx.get(f"{base_url}/oauth/v2/authorization?response_type=code&client_id=x"
                  "&redirect_uri=https%3A%2F%2Fa.example%2Fcb&state=abc")
    assert r.status_code == 302 and r.headers["location"].startswith("https://a.example/cb?code=")
    assert r.headers["location"].endswith("&state=abc")


def test_standard_control_interface(base_url: str, sandbox: LinkedInSandbox, token: str) -> None:
    r = httpx.post(f"{base_url}/_sandbox/faults", json={"status": 429, "path": "/v2/me", "times": 0})
    assert r.status_code == 201 and r.json()["kind"] == "rate_limit"
    for _ in range(2):  # times=0: until disarmed
        me = httpx.get(f"{base_url}/v2/me", headers=_h(token))
        assert me.status_code == 429 and me.headers["retry-after"] == "60"
        assert me.json() == {"message": "Resource level throttle limit for calls to this resource is reached.",
                             "status": 429, "serviceErrorCode": 101}
    assert len(httpx.get(f"{base_url}/_sandbox/faults").json()["faults"]) == 1
    assert httpx.delete(f"{base_url}/_sandbox/faults").status_code == 204
    assert httpx.get(f"{base_url}/v2/me", headers=_h(token)).status_code == 200
    assert httpx.post(f"{base_url}/_sandbox/faults", json={"kind": "nope"}).status_code == 400
    unknown = {"post_id": "urn:li:share:1", "text": "x"}
    assert httpx.post(f"{base_url}/_sandbox/comments", json=unknown).status_code == 404
    assert httpx.post(f"{base_url}/_sandbox/metrics",
                      json={"post_id": "urn:li:share:1", "metrics": {"likes": 1}}).status_code == 404
    httpx.post(f"{base_url}/rest/posts", headers=_h(token), json={
        "author": ORG, "commentary": "to forget", "visibility": "PUBLIC", "lifecycleState": "PUBLISHED",
        "distribution": {"feedDistribution": "MAIN_FEED"}})
    assert sandbox.state_posts()
    assert httpx.post(f"{base_url}/_sandbox/reset").status_code == 204
    assert sandbox.state_posts() == []
    assert httpx.get(f"{base_url}/v2/me", headers=_h(token)).status_code == 401  # tokens forgotten too
    assert httpx.post(f"{base_url}/_sandbox/expire-tokens").status_code == 204
    assert httpx.get(f"{base_url}/_sandbox").json()["organizations"][ORG] == "Devtestco"


def test_mounted_like_the_embedded_mode(image: Callable[..., Any], video: Callable[..., Any]) -> None:
    app = LinkedInConnector.sandbox()
    assert isinstance(app, LinkedInSandbox)
    app.video_part_size = 1000
    root = DispatcherMiddleware(Response("ClientNest", 200), {"/sandbox/linkedin": app})
    with serve(root) as url:
        settings = Settings(plugins=("linkedin",), sandbox=True, public_url=url,
                            plugin_config={"linkedin": {"video_poll_seconds": 0.01}})
        host = build_plugin_host(settings)
        connector = host.connector("linkedin")
        assert connector.api_base == f"{url}/sandbox/linkedin"
        req = connector.authorization_url("https://app.example/cb", "xyz")
        assert req.url.startswith(f"{url}/sandbox/linkedin/oauth/v2/authorization?")
        code = httpx.get(req.url).headers["location"].split("code=")[1].split("&")[0]
        accounts = connector.complete_authorization(code, "https://app.example/cb", None)
        org = next(a for a in accounts if a.external_id == ORG)
        result = connector.publish(org, PostContent(text="embedded", media=[image(1), image(2)]))
        assert app.post(result.external_id) is not None
        assert connector.publish(accounts[0], PostContent(text="v", media=[video(2100)])).external_id
        assert httpx.get(result.url).status_code == 200  # the permalink page is served too
        app.faults.arm(kind="rate_limit", retry_after=5)
        with pytest.raises(NotSentError):
            connector.publish(org, PostContent(text="throttled"))
        host.close()


def test_member_cannot_post_as_someone_else(base_url: str, sandbox: LinkedInSandbox) -> None:
    other = sandbox.add_member("Other", "Person")
    token = sandbox.issue_token()
    r = httpx.post(f"{base_url}/rest/posts", headers=_h(token), json={
        "author": other, "commentary": "not me", "visibility": "PUBLIC", "lifecycleState": "PUBLISHED",
        "distribution": {"feedDistribution": "MAIN_FEED"}})
    assert r.status_code == 403 and r.json()["serviceErrorCode"] == 100

