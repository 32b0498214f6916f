"""Response bodies and headers the X sandbox sends, as X sends them.

Bodies marked *recorded* are copied from ``fixtures/real-api/twitter`` (the
test ``test_sandbox_shapes`` checks that they still agree); the few marked
*not recorded* follow the same problem+json envelope.
"""
from __future__ import annotations

import secrets
from typing import Any

__all__ = [
    "UNAUTHORIZED",
    "TOO_MANY_REQUESTS",
    "DUPLICATE",
    "NO_TEXT_OR_MEDIA",
    "INVALID_REQUEST_DETAIL",
    "INVALID_REQUEST_TYPE",
    "NOT_FOUND_TYPE",
    "invalid_request",
    "not_found_error",
    "problem",
    "field_not_authorized",
    "oauth_error",
    "base_headers",
    "rate_headers",
    "RATE_LIMITS",
]

# recorded: academictwitteR search/all-90b063.R, postman "Retrieve Rules :: 401"
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
# recorded: captured_in_issues 429_v2_problem_json_2025
TOO_MANY_REQUESTS = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
# recorded: captured_in_issues 403_duplicate_tweet
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
# recorded: superface publish-post (POST /2/tweets with empty text)
NO_TEXT_OR_MEDIA = "Please include either text or media in your Tweet."
INVALID_REQUEST_DETAIL = "One or more parameters to your request was invalid."
INVALID_REQUEST_TYPE = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND_TYPE = "https://api.twitter.com/2/problems/resource-not-found"

#: requests per 15-minute window, per user, as the recordings' x-rate-limit-limit say
RATE_LIMITS: dict[str, int] = {
    "POST /2/tweets": 200,
    "DELETE /2/tweets/:id": 50,
    "GET /2/users/me": 75,
    "GET /2/users/:id": 300,
    "GET /2/tweets": 300,
    "GET /2/tweets/:id": 300,
    "GET /2/users/:id/tweets": 900,
    "GET /2/tweets/search/recent": 180,
    "GET /2/tweets/search/all": 300,
    "POST /2/media/upload": 500,  # not recorded
    "GET /2/media/upload": 500,  # not recorded
}


def invalid_request(message: str, parameters: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """recorded: the 400 envelope (superface, academictwitteR)."""
    error: dict[str, Any] = {"message": message}
    if parameters is not None:
        error = {"parameters": parameters, "message": message}
    return {"errors": [error], "title": "Invalid Request", "detail": INVALID_REQUEST_DETAIL, "type": INVALID_REQUEST_TYPE}


def not_found_error(resource_id: str, parameter: str, resource_type: str = "tweet") -> dict[str, Any]:
    """recorded: a partial error in a 200. By ``ids`` as academictwitteR
    recorded it (2021, with ``resource_id``); by one ``id`` as X's Postman
    example of a deleted post has it."""
    if parameter == "ids":
        return {
            "value": resource_id,
            "detail": f"Could not find {resource_type} with ids: [{resource_id}].",
            "title": "Not Found Error",
            "resource_type": resource_type,
            "parameter": parameter,
            "resource_id": resource_id,
            "type": NOT_FOUND_TYPE,
        }
    return {
        "detail": f"Could not find {resource_type} with {parameter}: [{resource_id}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "value": resource_id,
        "type": NOT_FOUND_TYPE,
    }


def field_not_authorized(resource_id: str, field: str) -> dict[str, Any]:
    """not recorded: private metrics asked for on a post they are not given for."""
    return {
        "value": field,
        "detail": f"Sorry, you are not authorized to access '{field}' on the Tweet with ids: [{resource_id}].",
        "title": "Field Authorization Error",
        "resource_type": "tweet",
        "parameter": field,
        "resource_id": resource_id,
        "section": "data",
        "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
    }


def problem(status: int, title: str, detail: str | None = None) -> dict[str, Any]:
    """The problem+json envelope (recorded for 401/403/429; used for others)."""
    return {"title": title, "detail": detail or title, "type": "about:blank", "status": status}


def oauth_error(error: str, description: str) -> dict[str, str]:
    """not recorded: the token endpoint's refusal."""
    return {"error": error, "error_description": description}


def base_headers() -> dict[str, str]:
    """recorded: the headers every v2 answer carries."""
    return {
        "api-version": "2.62",
        "cache-control": "no-cache, no-store, max-age=0",
        "content-disposition": "attachment; filename=json.json",
        "content-type": "application/json; charset=utf-8",
        "server": "tsa_b",
        "strict-transport-security": "max-age=631138519",
        "x-access-level": "read-write",
        "x-content-type-options": "nosniff",
        "x-frame-options": "SAMEORIGIN",
        "x-transaction-id": secrets.token_hex(8),
        "x-xss-protection": "0",
    }


def rate_headers(limit: int, remaining: int, reset_epoch: int) -> dict[str, str]:
    """recorded: ``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` (epoch seconds)."""
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(max(0, remaining)),
        "x-rate-limit-reset": str(reset_epoch),
    }
