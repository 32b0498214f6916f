"""A post's status is derived from its targets, never set by hand.

The publishing engine changes targets one at a time; after each change it
calls :func:`refresh_post_status` so the post's stored ``status`` (kept for
filtering and listing) always equals :func:`derive_post_status` of its
targets.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from ..models import Post, PostStatus, TargetStatus

__all__ = [
    "derive_post_status",
    "refresh_post_status",
    "IN_FLIGHT",
    "WAITING",
    "NOT_STARTED",
    "SETTLED",
]

#: a worker or the dispatcher holds the target, or its outcome is being reconciled
IN_FLIGHT = frozenset({TargetStatus.QUEUED, TargetStatus.PUBLISHING, TargetStatus.UNKNOWN})
#: will go out by itself once its time comes (or once the account is reconnected)
WAITING = frozenset({TargetStatus.SCHEDULED, TargetStatus.HELD})
#: nothing has been sent for it and nothing is about to be: it may still be edited
NOT_STARTED = frozenset({TargetStatus.DRAFT, TargetStatus.SCHEDULED, TargetStatus.HELD})
#: final: nothing will happen to the target any more (an unconfirmed one may
#: be live: a person has to look)
SETTLED = frozenset({TargetStatus.PUBLISHED, TargetStatus.UNCONFIRMED, TargetStatus.FAILED,
                     TargetStatus.CANCELED})

_KNOWN = frozenset(TargetStatus)


def derive_post_status(target_statuses: Iterable[str]) -> PostStatus:
    """The post status that its targets' statuses add up to.

    Rules, first match wins:

    1. no targets, or only drafts (canceled ones aside): ``draft``;
    2. any target queued, publishing or unknown: ``publishing``;
    3. some targets still to go (draft, scheduled or held) while others have
       already been published or failed: ``publishing`` (the post is on its
       way out and not settled yet);
    4. targets waiting (scheduled or held), none published or failed yet:
       ``scheduled``;
    5. all settled: all published -> ``published``; all canceled ->
       ``canceled``; any unconfirmed -> ``unconfirmed`` (whatever the others:
       the user must check before posting it again, or make a duplicate);
       all failed -> ``failed``; at least one published and at least one
       failed or canceled -> ``partially_published``; failed and canceled
       without any published -> ``failed``.

    :param target_statuses: the statuses of every target of one post.
    :returns: the derived :class:`PostStatus`.
    :raises ValueError: on a status that is not a :class:`TargetStatus`.
    """
    present = set()
    for raw in target_statuses:
        if raw not in _KNOWN:
            raise ValueError(f"unknown target status {raw!r}")
        present.add(TargetStatus(raw))
    if not present:
        return PostStatus.DRAFT
    if present & IN_FLIGHT:
        return PostStatus.PUBLISHING
    done = present & {TargetStatus.PUBLISHED, TargetStatus.FAILED, TargetStatus.UNCONFIRMED}
    pending = present & (WAITING | {TargetStatus.DRAFT})
    if pending:
        if done:
            return PostStatus.PUBLISHING
        if present & WAITING:
            return PostStatus.SCHEDULED
        return PostStatus.DRAFT  # drafts, perhaps beside canceled targets
    # every target is settled
    if present == {TargetStatus.PUBLISHED}:
        return PostStatus.PUBLISHED
    if present == {TargetStatus.CANCELED}:
        return PostStatus.CANCELED
    if TargetStatus.UNCONFIRMED in present:
        return PostStatus.UNCONFIRMED
    if TargetStatus.PUBLISHED in present:
        return PostStatus.PARTIALLY_PUBLISHED
    return PostStatus.FAILED  # failed, or failed beside canceled


def refresh_post_status(
    session: Session,
    post: Post,
    *,
    actor: str = "system",
    user_id: int | None = None,
) -> PostStatus:
    """Recompute ``post.status`` from its targets as they are in the database
    (pending changes in ``session`` are flushed first), and record an audit
    event when it changed. The caller commits.

    The statuses are read with a query rather than through ``post.targets`` so
    that targets changed by bulk ``UPDATE`` statements (the dispatcher's
    claims) are seen too.

    :param session: the session holding ``post``.
    :param post: the post to refresh.
    :param actor: who caused the change, for the audit event (``system``,
        ``worker`` or ``user``).
    :param user_id: the acting user, if any.
    :returns: the new status.
    """
    # One implementation for the API and the engine: it locks the post row
    # before reading its targets (two writers finishing targets of one post
    # must not each see a half-updated picture).
    from ..engine.state import refresh_post

    session.flush()
    new = refresh_post(session, post.id, actor=actor, user_id=user_id)
    session.expire(post, ["status", "updated_at"])
    return PostStatus(new) if new is not None else PostStatus(post.status)
