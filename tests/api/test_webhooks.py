"""/api/v1/webhooks/{platform}: Meta verification and signatures, X CRC and
signatures, and comment events stored once on the right account and post.

Payloads come from /work/shared/fixtures/real-api/webhooks/webhook_samples.json
(documentation samples); each test signs them the way the platform does.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from clientnest.api.webhooks.routes import meta_signature, x_signature
from clientnest.connector import Credentials
from clientnest.models import AuditEvent, InboxComment, Post, PostTarget, SocialAccount, TargetStatus

# a copy of ../shared/fixtures/real-api/webhooks/webhook_samples.json (real deliveries)
SAMPLES_PATH = Path(__file__).resolve().parent / "recordings" / "webhook_samples.json"

META_SECRET = "meta-app-secret-for-tests"
IG_SECRET = "ig-app-secret-for-tests"
X_SECRET = "secret"  # the consumer secret of the X sample vector
VERIFY_TOKEN = "meatyhamhock"  # the verify token of Meta's sample verification request



@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"plugin_config": {
        "facebook": {"app_secret": META_SECRET, "verify_token": VERIFY_TOKEN},
        "instagram": {"app_secret": IG_SECRET, "verify_token": VERIFY_TOKEN},
        "twitter": {"consumer_secret": X_SECRET},
    }}


@pytest.fixture
def samples() -> dict[str, Any]:
    return json.loads(SAMPLES_PATH.read_text())


def _snake(value: dict[str, Any]) -> dict[str, Any]:
    """Bottender camelCases the feed value; the wire has snake_case (the sample says so)."""
    names = {"commentId": "comment_id", "postId": "post_id", "parentId": "parent_id", "createdTime": "created_time"}
    return {names.get(k, k): v for k, v in value.items()}


def _page_comment_payload(samples: dict[str, Any]) -> dict[str, Any]:
    change = copy.deepcopy(samples["facebook_page_feed_comment"]["change_value_as_in_bottender"])
    change["value"] = _snake(change["value"])
    page_id = change["value"]["post_id"].split("_")[0]
    return {"object": "page", "entry": [{"id": page_id, "time": 1511951016, "changes": [change]}]}


def _ig_comment_payload(samples: dict[str, Any]) -> dict[str, Any]:
    """Meta's documented template with its placeholders filled in."""
    payload = copy.deepcopy(samples["instagram_comment"]["doc_template"][0])
    entry = payload["entry"][0]
    entry.update(id="17841450841275119", time=1755779280)
    entry["value"].update(id="17919697626119712", text="Where can I buy this?")
    entry["value"]["from"].update(id="2105722729836161", username="jiangwenwen1213")
    entry["value"]["media"].update(id="18172143295349192", media_product_type="FEED")
    return payload


def _x_reply_payload(for_user: str, tweet_id: str, reply_id: str) -> dict[str, Any]:
    """Account Activity ``tweet_create_events`` (v1.1 tweet objects), as X documents them."""
    return {"for_user_id": for_user, "tweet_create_events": [{
        "created_at": "Wed Oct 10 20:19:24 +0000 2018", "id_str": reply_id, "timestamp_ms": "1539202764000",
        "text": "@acme how much is shipping?", "in_reply_to_status_id_str": tweet_id,
        "in_reply_to_user_id_str": for_user, "user": {"id_str": "9876543210", "name": "A Fan", "screen_name": "afan"},
    }]}


def _signed_meta(client: Any, platform: str, payload: Any, secret: str, **kw: Any) -> Any:
    body = json.dumps(payload).encode()
    headers = {"X-Hub-Signature-256": meta_signature(secret, body), "Content-Type": "application/json"}
    headers.update(kw.pop("headers", {}))
    return client.post(f"/api/v1/webhooks/{platform}", data=body, headers=headers, **kw)


def _account(runtime: Any, workspace_id: int, platform: str, external_id: str) -> int:
    with runtime.db.transaction() as s:
        row = SocialAccount(
            workspace_id=workspace_id, platform=platform, external_id=external_id, display_name=external_id,
            credentials_encrypted=runtime.vault.encrypt(Credentials(access_token="tok").to_json()),
        )
        s.add(row)
        s.flush()
        return row.id


def _target(runtime: Any, workspace_id: int, account_id: int, platform: str, external_id: str) -> int:
    with runtime.db.transaction() as s:
        post = Post(workspace_id=workspace_id, text="hello")
        s.add(post)
        s.flush()
        target = PostTarget(post_id=post.id, workspace_id=workspace_id, account_id=account_id, platform=platform,
                            status=TargetStatus.PUBLISHED, external_id=external_id)
        s.add(target)
        s.flush()
        return target.id


def _comments(runtime: Any) -> list[InboxComment]:
    with runtime.db.session() as s:
        return list(s.execute(select(InboxComment).order_by(InboxComment.id)).scalars())


# -- signatures: the published test vectors ------------------------------------------

def test_signature_helpers_match_the_published_vectors(samples: dict[str, Any]) -> None:
    vector = samples["meta_signature"]["test_vector"]
    assert meta_signature(vector["secret"], vector["payload"].encode()) == "sha256=" + vector["hex"]
    crc = samples["x_crc"]["computed_example"]
    assert x_signature(crc["consumer_secret"], crc["crc_token"].encode()) == crc["response_token"]


# -- GET: Meta verification -------------------------------------------------------------

@pytest.mark.parametrize("platform", ["facebook", "instagram"])
def test_meta_verification_echoes_the_challenge(client: Any, samples: dict[str, Any], platform: str) -> None:
    query = samples["meta_verification_request"]["request"].split("?", 1)[1]
    r = client.get(f"/api/v1/webhooks/{platform}?{query}")
    assert r.status_code == 200
    assert r.mimetype == "text/plain"
    assert r.get_data(as_text=True) == "1158201444"


def test_meta_verification_rejects_a_wrong_verify_token(client: Any) -> None:
    r = client.get("/api/v1/webhooks/facebook?hub.mode=subscribe&hub.challenge=42&hub.verify_token=nope")
    assert r.status_code == 403
    assert "42" not in r.get_data(as_text=True)


@pytest.mark.parametrize("missing", ["hub.mode", "hub.verify_token", "hub.challenge"])
def test_meta_verification_names_a_missing_parameter(client: Any, missing: str) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "7"}
    params.pop(missing)
    r = client.get("/api/v1/webhooks/facebook", query_string=params)
    assert r.status_code == 422
    assert missing in r.get_json()["message"]


def test_meta_verification_rejects_another_mode(client: Any) -> None:
    r = client.get("/api/v1/webhooks/facebook", query_string={
        "hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "7"})
    assert r.status_code == 422
    assert "hub.mode" in r.get_json()["message"]


# -- GET: X CRC -----------------------------------------------------------------------------

def test_x_crc_answers_the_response_token(client: Any, samples: dict[str, Any]) -> None:
    crc = samples["x_crc"]["computed_example"]
    r = client.get(f"/api/v1/webhooks/twitter?crc_token={crc['crc_token']}")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"response_token": crc["response_token"]}


def test_x_crc_without_a_token_is_422(client: Any) -> None:
    r = client.get("/api/v1/webhooks/twitter")
    assert r.status_code == 422
    assert "crc_token" in r.get_json()["message"]


# -- configuration and unknown platforms -------------------------------------------------------

def test_unknown_platforms_and_platforms_without_webhooks_are_404(client: Any) -> None:
    assert client.get("/api/v1/webhooks/myspace?crc_token=x").status_code == 404
    assert client.post("/api/v1/webhooks/myspace", data=b"{}").status_code == 404
    assert client.post("/api/v1/webhooks/linkedin", data=b"{}").status_code == 404


def test_missing_secrets_are_a_clear_404_naming_the_setting(client: Any, runtime: Any) -> None:
    """Configuration, not an outage: a 404 saying what to set, never a 503
    (which would make the platform retry a delivery that cannot succeed)."""
    runtime.settings = dataclasses.replace(runtime.settings, plugin_config={}, sandbox=False)
    r = client.get("/api/v1/webhooks/facebook?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x")
    assert r.status_code == 404
    assert r.get_json()["message"] == (
        "webhooks for facebook are not configured on this install: set CLIENTNEST_FACEBOOK_VERIFY_TOKEN")
    r = client.post("/api/v1/webhooks/instagram", data=b"{}", headers={"X-Hub-Signature-256": "sha256=00"})
    assert r.status_code == 404
    assert "CLIENTNEST_INSTAGRAM_APP_SECRET" in r.get_json()["message"]
    r = client.get("/api/v1/webhooks/twitter?crc_token=abc")
    assert r.status_code == 404
    assert "CLIENTNEST_TWITTER_CONSUMER_SECRET" in r.get_json()["message"]
    r = client.post("/api/v1/webhooks/twitter", data=b"{}", headers={"x-twitter-webhooks-signature": "sha256=AA"})
    assert r.status_code == 404 and r.get_json()["code"] == 404


def test_webhook_statuses_are_documented(client: Any) -> None:
    ops = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/webhooks/{platform}"]
    for method in ("get", "post"):
        responses = ops[method]["responses"]
        assert "503" not in responses
        assert "not configured" in responses["404"]["description"]


def test_sandbox_mode_falls_back_to_the_sandbox_secrets(client: Any, runtime: Any) -> None:
    from clientnest_facebook.sandbox import SANDBOX_VERIFY_TOKEN

    runtime.settings = dataclasses.replace(runtime.settings, plugin_config={}, sandbox=True)
    r = client.get("/api/v1/webhooks/facebook", query_string={
        "hub.mode": "subscribe", "hub.challenge": "99", "hub.verify_token": SANDBOX_VERIFY_TOKEN})
    assert r.status_code == 200
    assert r.get_data(as_text=True) == "99"


# -- POST: Facebook Page comments ---------------------------------------------------------------

def test_page_comment_is_stored_once_on_its_account_and_post(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    member = register()
    payload = _page_comment_payload(samples)
    value = payload["entry"][0]["changes"][0]["value"]
    page_id = payload["entry"][0]["id"]
    account_id = _account(runtime, member.workspace_id, "facebook", page_id)
    target_id = _target(runtime, member.workspace_id, account_id, "facebook", value["post_id"])

    r = _signed_meta(client, "facebook", payload, META_SECRET)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"stored": 1, "duplicates": 0, "updated": 0, "ignored": 0}
    (row,) = _comments(runtime)
    assert row.account_id == account_id and row.workspace_id == member.workspace_id
    assert row.target_id == target_id
    assert row.platform == "facebook"
    assert row.external_id == value["comment_id"]
    assert row.post_external_id == value["post_id"]
    assert row.parent_external_id == value["parent_id"]  # a reply to another comment
    assert row.text == "Good"
    assert row.author_id == "139560936744123" and row.author_name == "user"
    assert row.commented_at is not None and int(row.commented_at.timestamp()) == 1511951015

    again = _signed_meta(client, "facebook", payload, META_SECRET)
    assert again.status_code == 200
    assert again.get_json()["stored"] == 0 and again.get_json()["duplicates"] == 1
    assert len(_comments(runtime)) == 1
    with runtime.db.session() as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.action == "inbox.comments_received")).scalars().all()
        assert len(events) == 1 and events[0].workspace_id == member.workspace_id
        assert events[0].data == {"platform": "facebook", "count": 1, "source": "webhook"}


def test_comment_with_nul_and_lone_surrogates_is_stored_cleaned_not_refused(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    """A signed delivery is the platform's word: a NUL (which PostgreSQL's
    text refuses) or a lone surrogate in it must not fail the delivery, or
    Meta would retry it forever. Stored with NULs dropped and surrogates
    replaced; nothing else lost."""
    member = register()
    payload = _page_comment_payload(samples)
    value = payload["entry"][0]["changes"][0]["value"]
    value["message"] = "Go\x00od \ud83d and \udc00"
    value["from"]["name"] = "us\x00er"
    _account(runtime, member.workspace_id, "facebook", payload["entry"][0]["id"])
    # json.dumps writes the lone surrogates as \ud83d escapes, as a platform would
    r = _signed_meta(client, "facebook", payload, META_SECRET)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["stored"] == 1
    (row,) = _comments(runtime)
    assert row.text == "Good \ufffd and \ufffd"
    assert row.author_name == "user"
    assert row.raw["message"] == "Good \ufffd and \ufffd"
    again = _signed_meta(client, "facebook", payload, META_SECRET)
    assert again.get_json()["duplicates"] == 1 and len(_comments(runtime)) == 1


def test_page_comment_is_stored_in_every_workspace_that_connected_the_page(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    payload = _page_comment_payload(samples)
    page_id = payload["entry"][0]["id"]
    first, second = register(), register()
    a1 = _account(runtime, first.workspace_id, "facebook", page_id)
    a2 = _account(runtime, second.workspace_id, "facebook", page_id)
    r = _signed_meta(client, "facebook", payload, META_SECRET)
    assert r.get_json()["stored"] == 2
    assert sorted(c.account_id for c in _comments(runtime)) == sorted([a1, a2])
    assert {c.workspace_id for c in _comments(runtime)} == {first.workspace_id, second.workspace_id}


def test_top_level_comment_has_no_parent_and_own_comments_are_skipped(
    client: Any, runtime: Any, register: Any
) -> None:
    member = register()
    _account(runtime, member.workspace_id, "facebook", "110658944785122")
    post_id = "110658944785122_206586845224581"
    fan = {"field": "feed", "value": {"from": {"id": "6367583273279158", "name": "Wea Joklena"}, "item": "comment",
                                       "comment_id": "206586845224581_1", "post_id": post_id, "parent_id": post_id,
                                       "verb": "add", "created_time": 1700000000, "message": "Love it"}}
    own = copy.deepcopy(fan)
    own["value"].update(comment_id="206586845224581_2", message="Thanks!",
                        **{"from": {"id": "110658944785122", "name": "Sf-test"}})
    reaction = {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": post_id}}
    payload = {"object": "page", "entry": [{"id": "110658944785122", "time": 1700000001,
                                            "changes": [fan, own, reaction]}]}
    r = _signed_meta(client, "facebook", payload, META_SECRET)
    assert r.get_json() == {"stored": 1, "duplicates": 0, "updated": 0, "ignored": 2}
    (row,) = _comments(runtime)
    assert row.parent_external_id is None and row.text == "Love it"
    assert row.target_id is None  # no post of ours has that id


def test_comment_on_a_video_story_links_to_the_video_target(client: Any, runtime: Any, register: Any) -> None:
    """A Facebook video is published (and stored) by video id; its feed story is {page}_{video}."""
    member = register()
    account_id = _account(runtime, member.workspace_id, "facebook", "110658944785122")
    target_id = _target(runtime, member.workspace_id, account_id, "facebook", "1042961149725000")
    story = "110658944785122_1042961149725000"
    payload = {"object": "page", "entry": [{"id": "110658944785122", "time": 1700000001, "changes": [{
        "field": "feed", "value": {"from": {"id": "6367583273279158", "name": "Wea Joklena"}, "item": "comment",
                                   "comment_id": "1042961149725000_77", "post_id": story, "parent_id": story,
                                   "verb": "add", "created_time": 1700000000, "message": "Great clip"}}]}]}
    assert _signed_meta(client, "facebook", payload, META_SECRET).get_json()["stored"] == 1
    (row,) = _comments(runtime)
    assert row.target_id == target_id and row.post_external_id == story


def test_recorded_reaction_event_is_acknowledged_and_ignored(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    member = register()
    body = samples["facebook_page_feed_comment"]["raw_wire_example_reaction_2016"]["body"]
    _account(runtime, member.workspace_id, "facebook", body["entry"][0]["id"])
    r = _signed_meta(client, "facebook", body, META_SECRET)
    assert r.status_code == 200
    assert r.get_json()["ignored"] == 1 and r.get_json()["stored"] == 0
    assert _comments(runtime) == []


def test_edited_comment_replaces_the_text_without_a_second_row(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    member = register()
    payload = _page_comment_payload(samples)
    _account(runtime, member.workspace_id, "facebook", payload["entry"][0]["id"])
    _signed_meta(client, "facebook", payload, META_SECRET)
    edited = copy.deepcopy(payload)
    edited["entry"][0]["changes"][0]["value"].update(verb="edited", message="Good, really")
    r = _signed_meta(client, "facebook", edited, META_SECRET)
    assert r.get_json()["updated"] == 1 and r.get_json()["stored"] == 0
    (row,) = _comments(runtime)
    assert row.text == "Good, really"


def test_events_for_unknown_accounts_are_acknowledged_and_dropped(
    client: Any, runtime: Any, samples: dict[str, Any]
) -> None:
    r = _signed_meta(client, "facebook", _page_comment_payload(samples), META_SECRET)
    assert r.status_code == 200
    assert r.get_json() == {"stored": 0, "duplicates": 0, "updated": 0, "ignored": 1}
    assert _comments(runtime) == []


@pytest.mark.parametrize("header", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_bad_or_missing_meta_signature_is_401_and_stores_nothing(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any], header: str | None
) -> None:
    member = register()
    payload = _page_comment_payload(samples)
    _account(runtime, member.workspace_id, "facebook", payload["entry"][0]["id"])
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Hub-Signature-256"] = header
    r = client.post("/api/v1/webhooks/facebook", data=json.dumps(payload), headers=headers)
    assert r.status_code == 401
    assert "X-Hub-Signature-256" in r.get_json()["message"]
    assert _comments(runtime) == []


def test_signature_must_cover_the_raw_body_exactly(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    member = register()
    payload = _page_comment_payload(samples)
    _account(runtime, member.workspace_id, "facebook", payload["entry"][0]["id"])
    signed = json.dumps(payload).encode()
    tampered = json.dumps(payload, indent=1).encode()  # same JSON, other bytes
    r = client.post("/api/v1/webhooks/facebook", data=tampered,
                    headers={"X-Hub-Signature-256": meta_signature(META_SECRET, signed)})
    assert r.status_code == 401
    r = _signed_meta(client, "facebook", payload, "another-app-secret")
    assert r.status_code == 401
    # upper-case hex digits are the same signature
    r = client.post("/api/v1/webhooks/facebook", data=signed,
                    headers={"X-Hub-Signature-256": "sha256=" + meta_signature(META_SECRET, signed)[7:].upper()})
    assert r.status_code == 200
    assert len(_comments(runtime)) == 1


def test_signed_body_that_is_not_json_is_400(client: Any) -> None:
    body = b"not json"
    r = client.post("/api/v1/webhooks/facebook", data=body,
                    headers={"X-Hub-Signature-256": meta_signature(META_SECRET, body)})
    assert r.status_code == 400
    r = client.post("/api/v1/webhooks/facebook", data=b"[1]",
                    headers={"X-Hub-Signature-256": meta_signature(META_SECRET, b"[1]")})
    assert r.status_code == 400


def test_webhooks_need_no_bearer_token_and_ignore_one(
    client: Any, samples: dict[str, Any]
) -> None:
    r = _signed_meta(client, "facebook", _page_comment_payload(samples), META_SECRET,
                     headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 200


# -- POST: Instagram comments -------------------------------------------------------------------

def test_instagram_comment_is_stored_on_the_media_target(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    member = register()
    payload = _ig_comment_payload(samples)
    account_id = _account(runtime, member.workspace_id, "instagram", "17841450841275119")
    target_id = _target(runtime, member.workspace_id, account_id, "instagram", "18172143295349192")
    r = _signed_meta(client, "instagram", payload, IG_SECRET)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["stored"] == 1
    (row,) = _comments(runtime)
    assert (row.account_id, row.target_id) == (account_id, target_id)
    assert row.external_id == "17919697626119712"
    assert row.text == "Where can I buy this?"
    assert row.author_name == "jiangwenwen1213"
    assert int(row.commented_at.timestamp()) == 1755779280
    assert _signed_meta(client, "instagram", payload, IG_SECRET).get_json()["duplicates"] == 1
    assert len(_comments(runtime)) == 1


def test_instagram_facebook_login_shape_and_own_comment(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    """The vendor sample (``changes[]``) is the account commenting on its own media."""
    member = register()
    sample = samples["instagram_comment"]["vendor_sample_prefix"]
    _account(runtime, member.workspace_id, "instagram", sample["entry"][0]["id"])
    payload = {"object": "instagram", "entry": copy.deepcopy(sample["entry"])}
    r = _signed_meta(client, "instagram", payload, IG_SECRET)
    assert r.status_code == 200
    assert r.get_json()["ignored"] == 1 and r.get_json()["stored"] == 0
    fan = copy.deepcopy(payload)
    fan["entry"][0]["changes"][0]["value"]["from"] = {"id": "999", "username": "someone"}
    r = _signed_meta(client, "instagram", fan, IG_SECRET)
    assert r.get_json()["stored"] == 1
    assert _comments(runtime)[0].external_id == "17919697626119712"


def test_instagram_webhook_is_signed_with_its_own_app_secret(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    member = register()
    _account(runtime, member.workspace_id, "instagram", "17841450841275119")
    r = _signed_meta(client, "instagram", _ig_comment_payload(samples), META_SECRET)
    assert r.status_code == 401
    assert _comments(runtime) == []


def test_page_payload_sent_to_the_instagram_endpoint_is_ignored(
    client: Any, runtime: Any, register: Any, samples: dict[str, Any]
) -> None:
    member = register()
    payload = _page_comment_payload(samples)
    _account(runtime, member.workspace_id, "instagram", payload["entry"][0]["id"])
    r = _signed_meta(client, "instagram", payload, IG_SECRET)
    assert r.status_code == 200 and r.get_json()["stored"] == 0
    assert _comments(runtime) == []


# -- POST: X replies ------------------------------------------------------------------------------

def _signed_x(client: Any, payload: Any, secret: str = X_SECRET) -> Any:
    body = json.dumps(payload).encode()
    return client.post("/api/v1/webhooks/twitter", data=body,
                       headers={"x-twitter-webhooks-signature": x_signature(secret, body)})


def test_x_reply_is_stored_once_on_the_tweet_target(client: Any, runtime: Any, register: Any) -> None:
    member = register()
    account_id = _account(runtime, member.workspace_id, "twitter", "2244994945")
    target_id = _target(runtime, member.workspace_id, account_id, "twitter", "1050118621198921728")
    payload = _x_reply_payload("2244994945", "1050118621198921728", "1050118621198921999")
    r = _signed_x(client, payload)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["stored"] == 1
    (row,) = _comments(runtime)
    assert (row.account_id, row.target_id) == (account_id, target_id)
    assert row.text == "@acme how much is shipping?" and row.author_name == "afan"
    assert int(row.commented_at.timestamp()) == 1539202764
    assert _signed_x(client, payload).get_json()["duplicates"] == 1
    assert len(_comments(runtime)) == 1


def test_x_own_tweets_and_non_replies_are_ignored(client: Any, runtime: Any, register: Any) -> None:
    member = register()
    _account(runtime, member.workspace_id, "twitter", "2244994945")
    payload = _x_reply_payload("2244994945", "1050118621198921728", "1")
    own = copy.deepcopy(payload["tweet_create_events"][0])
    own.update(id_str="2", user={"id_str": "2244994945", "screen_name": "acme"})
    mention = copy.deepcopy(payload["tweet_create_events"][0])
    mention.update(id_str="3", in_reply_to_status_id_str=None, in_reply_to_user_id_str=None)
    payload["tweet_create_events"] += [own, mention]
    payload["favorite_events"] = [{"id": "x"}]
    r = _signed_x(client, payload)
    assert r.get_json() == {"stored": 1, "duplicates": 0, "updated": 0, "ignored": 3}


def test_x_bad_signature_is_401(client: Any, runtime: Any, register: Any) -> None:
    member = register()
    _account(runtime, member.workspace_id, "twitter", "2244994945")
    payload = _x_reply_payload("2244994945", "1", "2")
    r = _signed_x(client, payload, secret="wrong")
    assert r.status_code == 401
    r = client.post("/api/v1/webhooks/twitter", data=json.dumps(payload))
    assert r.status_code == 401
    assert "x-twitter-webhooks-signature" in r.get_json()["message"]
    with runtime.db.session() as s:
        assert s.execute(select(func.count()).select_from(InboxComment)).scalar_one() == 0


def test_webhooks_are_documented_without_bearer_auth(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    ops = spec["paths"]["/api/v1/webhooks/{platform}"]
    assert ops["get"]["security"] == [] and ops["post"]["security"] == []
    assert "401" in ops["post"]["responses"]
