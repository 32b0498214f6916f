"""The X sandbox: real shapes (checked against the recordings), OAuth, state
readable through X's own read endpoints, rate limits and fault injection."""
from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from clientnest import PostContent
from clientnest.testing.server import serve
from clientnest_twitter import TwitterConnector
from clientnest_twitter.oauth import challenge_for
from clientnest_twitter.sandbox import TwitterSandbox



def tweepy(recorded: Path, name: str) -> list[dict[str, Any]]:
    return json.loads((recorded / "decoded" / f"{name}.json").read_text())


def captured(recorded: Path) -> dict[str, Any]:
    return json.loads((recorded / "captured_in_issues" / "errors.json").read_text())


@pytest.fixture
def api(control: httpx.Client, sandbox: TwitterSandbox) -> httpx.Client:
    """A client with a token of the sandbox's user."""
    token = control.post("/_sandbox/tokens", json={}).json()["access_token"]
    control.headers["Authorization"] = f"Bearer {token}"
    return control


def post(api: httpx.Client, text: str, **body: Any) -> httpx.Response:
    return api.post("/2/tweets", json={"text": text, **body})


# -- shapes agree with the recordings ----------------------------------------------------------

def test_create_and_delete_shapes(recorded: Path, api: httpx.Client) -> None:
    rec_create, rec_delete = tweepy(recorded, "test_client_create_and_delete_tweet")
    created = post(api, "Test Tweet")
    assert created.status_code == rec_create["response"]["status"]["code"] == 201
    body = created.json()
    assert body.keys() == rec_create["response"]["body"].keys()
    assert body["data"].keys() == rec_create["response"]["body"]["data"].keys()
    assert body["data"]["text"] == "Test Tweet"
    assert re.fullmatch(r"[0-9]{19}", body["data"]["id"])
    assert created.headers["location"].endswith(f"/2/tweets/{body['data']['id']}")
    assert created.headers["content-type"] == rec_create["response"]["headers"]["content-type"][0]
    assert created.headers["x-rate-limit-limit"] == rec_create["response"]["headers"]["x-rate-limit-limit"][0] == "200"
    assert created.headers["x-rate-limit-remaining"] == "199"
    assert int(created.headers["x-rate-limit-reset"]) > time.time()
    deleted = api.delete(f"/2/tweets/{body['data']['id']}")
    assert deleted.status_code == 200 and deleted.json() == rec_delete["response"]["body"]
    assert deleted.headers["x-rate-limit-limit"] == rec_delete["response"]["headers"]["x-rate-limit-limit"][0]


def test_read_shapes(recorded: Path, api: httpx.Client) -> None:
    me = api.get("/2/users/me").json()
    assert me["data"].keys() == tweepy(recorded, "test_client_get_me")[0]["response"]["body"]["data"].keys()
    uid = me["data"]["id"]
    for i in range(6):
        post(api, f"post {i}")
    rec = tweepy(recorded, "test_client_get_users_tweets")[0]["response"]["body"]
    page = api.get(f"/2/users/{uid}/tweets", params={"max_results": 5}).json()
    assert [item.keys() for item in page["data"]] == [rec["data"][0].keys()] * 5
    assert list(page["meta"]) == list(rec["meta"])  # result_count, newest_id, oldest_id, next_token
    timeline = json.loads((recorded / "superface_station" / "social-media_posts__twitter.recording.json").read_text())
    recorded_time = timeline["interactions"][1]["response_body"]["data"][0]["created_at"]
    item = api.get(f"/2/users/{uid}/tweets", params={"tweet.fields": "created_at"}).json()["data"][0]
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(pattern, recorded_time) and re.fullmatch(pattern, item["created_at"])
    search = tweepy(recorded, "test_client_search_recent_tweets")[0]["response"]["body"]
    for i in range(11):
        post(api, f"findme {i}")
    found = api.get("/2/tweets/search/recent", params={"query": "findme"}).json()
    assert list(found["meta"]) == list(search["meta"])  # newest_id, oldest_id, result_count, next_token


def test_deleted_and_missing_posts_answer_200_with_errors(recorded: Path, api: httpx.Client) -> None:
    examples = json.loads((recorded / "postman_official" / "extracted_examples.json").read_text())
    one = examples["Single Tweet :: 200 Success - Deleted Tweet"]["body"]
    tid = post(api, "soon gone").json()["data"]["id"]
    api.delete(f"/2/tweets/{tid}")
    single = api.get(f"/2/tweets/{tid}")
    assert single.status_code == 200
    assert single.json()["errors"][0].keys() == one["errors"][0].keys()
    assert single.json()["errors"][0]["detail"] == f"Could not find tweet with id: [{tid}]."
    selected = json.loads((recorded / "academictwitteR_httptest" / "selected.json").read_text())
    many = next(e for e in selected if e["file"].endswith("tweets-0ee54c.R"))["body"]
    keep = post(api, "still here").json()["data"]["id"]
    mixed = api.get("/2/tweets", params={"ids": f"{keep},{tid}"}).json()
    assert [d["id"] for d in mixed["data"]] == [keep]
    assert mixed["errors"][0].keys() == many["errors"][0].keys()
    assert mixed["errors"][0]["resource_id"] == tid


def test_error_bodies_are_the_recorded_ones(recorded: Path, api: httpx.Client, control: httpx.Client) -> None:
    errors = captured(recorded)
    empty = post(api, "")
    assert empty.status_code == 400 and empty.json() == errors["400_invalid_request"]["body"]
    assert post(api, "same").status_code == 201
    dup = post(api, "same")
    assert dup.status_code == 403 and dup.json() == errors["403_duplicate_tweet"]["body"]
    unauthorized = httpx.get(str(api.base_url) + "/2/users/me", headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 401 and unauthorized.json() == errors["401_v2"]["body"]
    control.post("/_sandbox/faults", json={"status": 429, "retry_after": 90})
    limited = api.get("/2/users/me")
    assert limited.status_code == 429 and limited.json() == errors["429_v2_problem_json_2025"]["body"]
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert abs(int(limited.headers["x-rate-limit-reset"]) - (time.time() + 90)) < 5


def test_invalid_parameters_answer_like_x(recorded: Path, api: httpx.Client) -> None:
    uid = api.get("/2/users/me").json()["data"]["id"]
    selected = json.loads((recorded / "academictwitteR_httptest" / "selected.json").read_text())
    rec = next(e for e in selected if e["file"].endswith("search/all-92adbd.R"))["body"]
    bad = api.get(f"/2/users/{uid}/tweets", params={"start_time": "2020-06-21T01:00Z", "end_time": "2020-06-21T00:00Z"})
    assert bad.status_code == 400
    assert bad.json() == rec  # the very same message, parameters and envelope
    too_many = api.get(f"/2/users/{uid}/tweets", params={"max_results": 1000})
    assert too_many.status_code == 400 and "not between 5 and 100" in too_many.json()["errors"][0]["message"]
    assert api.get("/2/tweets", params={"ids": "NA"}).json()["errors"][0]["message"] == \
        "The `ids` query parameter value [NA] does not match ^[0-9]{1,19}$"


# -- OAuth ---------------------------------------------------------------------------------------

def _authorize(base: str, scope: str = "tweet.read tweet.write users.read offline.access", verifier: str = "v" * 50) -> str:
    r = httpx.get(f"{base}/i/oauth2/authorize", params={
        "response_type": "code", "client_id": "clientnest-sandbox", "redirect_uri": "http://cb.test/x",
        "scope": scope, "state": "s1", "code_challenge": challenge_for(verifier), "code_challenge_method": "S256"})
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def _token(base: str, **form: str) -> httpx.Response:
    return httpx.post(f"{base}/2/oauth2/token", data={"client_id": "clientnest-sandbox", **form})


def test_oauth_pkce_single_use_codes_and_rotation(recorded: Path, base_url: str) -> None:
    bad = httpx.get(f"{base_url}/i/oauth2/authorize", params={"response_type": "code"})
    assert bad.status_code == 400
    code = _authorize(base_url)
    wrong = _token(base_url, grant_type="authorization_code", code=code, redirect_uri="http://cb.test/x", code_verifier="w" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_request"
    code = _authorize(base_url)
    good = _token(base_url, grant_type="authorization_code", code=code, redirect_uri="http://cb.test/x", code_verifier="v" * 50)
    refresh_rec = json.loads((recorded / "superface_station" / "oauth2_refresh-token__twitter.recording.json").read_text())
    body = good.json()
    assert list(body) == list(refresh_rec["interactions"][0]["response_body"])
    assert body["expires_in"] == 7200
    again = _token(base_url, grant_type="authorization_code", code=code, redirect_uri="http://cb.test/x", code_verifier="v" * 50)
    assert again.status_code == 400, "a code works once"
    rotated = _token(base_url, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != body["refresh_token"]
    reused = _token(base_url, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert reused.status_code == 400 and reused.json() == {
        "error": "invalid_request", "error_description": "Value passed for the token was invalid."}
    bad_secret = httpx.post(f"{base_url}/2/oauth2/token", auth=("clientnest-sandbox", "wrong"),
                            data={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]})
    assert bad_secret.status_code == 401


def test_no_refresh_token_without_offline_access(base_url: str) -> None:
    code = _authorize(base_url, scope="tweet.read tweet.write users.read")
    body = _token(base_url, grant_type="authorization_code", code=code, redirect_uri="http://cb.test/x",
                  code_verifier="v" * 50).json()
    assert "refresh_token" not in body and body["scope"] == "tweet.read tweet.write users.read"
    media = httpx.post(f"{base_url}/2/media/upload", headers={"Authorization": f"Bearer {body['access_token']}"},
                       data={"command": "INIT", "media_type": "image/png", "total_bytes": "10"})
    assert media.status_code == 403 and "media.write" in media.json()["detail"]


def test_tokens_expire_after_two_hours(api: httpx.Client, clock: Any, control: httpx.Client) -> None:
    assert api.get("/2/users/me").status_code == 200
    clock.advance(hours=2, seconds=1)
    assert api.get("/2/users/me").status_code == 401
    clock.offset = timedelta()
    assert api.get("/2/users/me").status_code == 200
    assert control.post("/_sandbox/expire_tokens").json()["expired"] >= 1
    assert api.get("/2/users/me").status_code == 401


# -- limits --------------------------------------------------------------------------------------

def test_rate_limit_window_is_enforced_and_resets(api: httpx.Client, clock: Any) -> None:
    for i in range(75):
        r = api.get("/2/users/me")
        assert r.status_code == 200 and r.headers["x-rate-limit-remaining"] == str(74 - i)
    limited = api.get("/2/users/me")
    assert limited.status_code == 429 and limited.headers["x-rate-limit-remaining"] == "0"
    clock.advance(minutes=15, seconds=1)
    assert api.get("/2/users/me").status_code == 200


def test_daily_post_cap(clock: Any) -> None:
    sandbox = TwitterSandbox(clock=clock, daily_post_limit=2)
    with serve(sandbox) as url, httpx.Client(base_url=url) as client:
        client.headers["Authorization"] = "Bearer " + client.post("/_sandbox/tokens", json={}).json()["access_token"]
        first = post(client, "one")
        assert first.headers["x-user-limit-24hour-remaining"] == "1"
        assert post(client, "two").status_code == 201
        capped = post(client, "three")
        assert capped.status_code == 429
        assert capped.headers["x-user-limit-24hour-remaining"] == "0"
        assert int(capped.headers["x-user-limit-24hour-reset"]) > time.time() + 23 * 3600


# -- faults --------------------------------------------------------------------------------------

def test_fault_injection(api: httpx.Client, control: httpx.Client) -> None:
    assert control.post("/_sandbox/faults", json={"kind": "bogus"}).status_code == 400
    assert control.post("/_sandbox/faults", json={"status": 418}).status_code == 400
    armed = control.post("/_sandbox/faults", json={"status": 502, "times": 2, "method": "GET", "path": "/2/users"}).json()
    assert armed["kind"] == "server_error"
    assert post(api, "not affected").status_code == 201  # another method and path
    assert [api.get("/2/users/me").status_code for _ in range(3)] == [502, 502, 200]
    control.post("/_sandbox/faults", json={"status": 503, "retry_after": 7})
    unavailable = api.get("/2/users/me")
    assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "7"
    control.post("/_sandbox/faults", json={"kind": "duplicate"})
    assert api.get("/2/users/me").status_code == 200  # duplicates hit publish requests only
    assert post(api, "fresh text").status_code == 403
    control.post("/_sandbox/faults", json={"kind": "expired_token", "times": 0})
    assert [api.get("/2/users/me").status_code for _ in range(2)] == [401, 401]
    assert control.delete("/_sandbox/faults").status_code == 204
    assert control.get("/_sandbox/faults").json() == {"faults": []}
    assert api.get("/2/users/me").status_code == 200


def test_slow_and_disconnect_faults_act_before_failing(api: httpx.Client, control: httpx.Client) -> None:
    uid = api.get("/2/users/me").json()["data"]["id"]
    control.post("/_sandbox/faults", json={"kind": "slow", "delay": 1.5})
    with pytest.raises(httpx.ReadTimeout):
        api.post("/2/tweets", json={"text": "late answer"}, timeout=0.5)
    control.post("/_sandbox/faults", json={"kind": "disconnect"})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.post("/2/tweets", json={"text": "no answer"})
    time.sleep(1.2)
    texts = {t["text"] for t in api.get(f"/2/users/{uid}/tweets").json()["data"]}
    assert {"late answer", "no answer"} <= texts


# -- content, media, search ------------------------------------------------------------------------

def test_urls_are_shortened_and_escaped(api: httpx.Client) -> None:
    body = post(api, "A & B <3 example.com/x?y=1 https://Example.org").json()["data"]
    assert re.fullmatch(r"A &amp; B &lt;3 https://t\.co/\w{10} https://t\.co/\w{10}", body["text"])
    item = api.get(f"/2/tweets/{body['id']}", params={"tweet.fields": "entities"}).json()["data"]
    urls = item["entities"]["urls"]
    assert [u["expanded_url"] for u in urls] == ["http://example.com/x?y=1", "https://Example.org"]
    for u in urls:
        assert item["text"][u["start"]:u["end"]] == u["url"]


def _upload(api: httpx.Client, payload: bytes, media_type: str) -> str:
    init = api.post("/2/media/upload", data={"command": "INIT", "media_type": media_type, "total_bytes": str(len(payload))})
    assert init.status_code == 200 and init.json()["data"].keys() == {"id", "media_key", "expires_after_secs"}
    mid = init.json()["data"]["id"]
    assert api.post("/2/media/upload", data={"command": "APPEND", "media_id": mid, "segment_index": "0"},
                    files={"media": ("b", payload)}).status_code == 204
    return mid


def test_media_upload_flow(api: httpx.Client) -> None:
    photo = _upload(api, b"png-bytes", "image/png")
    final = api.post("/2/media/upload", data={"command": "FINALIZE", "media_id": photo}).json()["data"]
    assert "processing_info" not in final and final["size"] == 9
    video = _upload(api, b"\x00" * 64, "video/mp4")
    pending = api.post("/2/media/upload", data={"command": "FINALIZE", "media_id": video}).json()["data"]
    assert pending["processing_info"]["state"] == "pending"
    assert post(api, "too early", media={"media_ids": [video]}).json()["errors"][0]["message"] == "Your media IDs are invalid."
    status = api.get("/2/media/upload", params={"command": "STATUS", "media_id": video}).json()["data"]
    assert status["processing_info"]["state"] == "succeeded"
    made = post(api, "with video", media={"media_ids": [video]}).json()["data"]
    shown = api.get(f"/2/tweets/{made['id']}", params={"expansions": "attachments.media_keys",
                                                       "media.fields": "public_metrics"}).json()
    assert shown["data"]["attachments"]["media_keys"] == [f"13_{video}"]
    assert shown["includes"]["media"][0] == {"media_key": f"13_{video}", "type": "video", "public_metrics": {"view_count": 0}}
    short = api.post("/2/media/upload", data={"command": "INIT", "media_type": "image/png", "total_bytes": "100"}).json()
    mismatch = api.post("/2/media/upload", data={"command": "FINALIZE", "media_id": short["data"]["id"]})
    assert mismatch.status_code == 400 and "mismatch" in mismatch.json()["errors"][0]["message"]
    bad = _upload(api, b"NOTAVIDEO" + b"\x00" * 10, "video/mp4")
    api.post("/2/media/upload", data={"command": "FINALIZE", "media_id": bad})
    failed = api.get("/2/media/upload", params={"command": "STATUS", "media_id": bad}).json()["data"]["processing_info"]
    assert failed["state"] == "failed" and failed["error"]["name"] == "InvalidMedia"


def test_conversation_search_pages(api: httpx.Client, control: httpx.Client) -> None:
    root = post(api, "root post").json()["data"]["id"]
    ids = [control.post("/_sandbox/comments", json={"post_id": root, "text": f"c{i}"}).json()["id"] for i in range(12)]
    nested = control.post("/_sandbox/comments", json={"post_id": root, "text": "nested", "reply_to": ids[0]}).json()["id"]
    assert control.post("/_sandbox/comments", json={"post_id": "1", "text": "x"}).status_code == 404
    seen: list[str] = []
    params: dict[str, Any] = {"query": f"conversation_id:{root}", "max_results": 10, "tweet.fields": "referenced_tweets"}
    while True:
        page = api.get("/2/tweets/search/recent", params=params).json()
        seen += [t["id"] for t in page.get("data", [])]
        if "next_token" not in page["meta"]:
            break
        params["next_token"] = page["meta"]["next_token"]
    # the root carries its own conversation_id too
    assert sorted(seen) == sorted(ids + [nested, root])
    bad = api.get("/2/tweets/search/recent", params={"query": "(a OR b)"})
    assert bad.status_code == 400


def test_reset_forgets_everything(api: httpx.Client, control: httpx.Client) -> None:
    tid = post(api, "to forget").json()["data"]["id"]
    assert control.post("/_sandbox/reset", json={}).status_code == 204
    assert api.get(f"/2/tweets/{tid}").status_code == 401  # tokens are forgotten too


# -- mounted as the embedded mode mounts it -------------------------------------------------------

def test_mounted_under_a_prefix(sandbox: TwitterSandbox) -> None:
    app = DispatcherMiddleware(Response("ClientNest", status=200), {"/sandbox/twitter": sandbox})
    with serve(app) as url:
        base = f"{url}/sandbox/twitter"
        connector = TwitterConnector(TwitterConnector.config_schema.validate(
            "twitter", TwitterConnector.sandbox_config(base)))
        request = connector.authorization_url("http://cb.test/back", "st")
        assert request.url.startswith(f"{base}/i/oauth2/authorize?")
        answer = httpx.get(request.url)
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        [account] = connector.complete_authorization(code, "http://cb.test/back", request.verifier)
        since = datetime.now(UTC) - timedelta(seconds=5)
        content = PostContent(text="from the embedded mode")
        published = connector.publish(account, content)
        found = connector.find_published(account, content, since)
        assert found is not None and found.external_id == published.external_id
        created = httpx.post(f"{base}/2/tweets", json={"text": "direct"},
                             headers={"Authorization": f"Bearer {account.credentials.access_token}"})
        assert created.headers["location"] == f"{base}/2/tweets/{created.json()['data']['id']}"
        connector.close()
