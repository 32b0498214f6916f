"""Posting slots: weekly wall-clock times per account, in the workspace zone.

A slot is "Monday 09:00" in the workspace's IANA time zone, not a UTC
instant, so it keeps its wall-clock time across DST changes (invariant 7):
Monday 09:00 Europe/Berlin is 08:00Z in winter and 07:00Z in summer.

Two edge cases of local time are resolved the same way every time:

* a local time that does not exist (the spring-forward gap, e.g. 02:30 on
  the night clocks jump from 02:00 to 03:00) is read with the offset in force
  before the jump, which lands it as far past the gap's start as it was meant
  to be (02:30 -> 03:30 local);
* a local time that happens twice (the autumn fold) is the first occurrence.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import PostingSlot, PostTarget, SocialAccount, TargetStatus

__all__ = [
    "Slot",
    "workspace_zone",
    "local_to_utc",
    "account_slots",
    "replace_slots",
    "slot_instants",
    "taken_instants",
    "next_free_slot",
    "TAKING_STATUSES",
]

#: target statuses that occupy their slot (the others have gone, or never will)
TAKING_STATUSES = (TargetStatus.SCHEDULED, TargetStatus.QUEUED, TargetStatus.HELD)


@dataclass(frozen=True, order=True)
class Slot:
    """One weekly slot. ``weekday``: 0 = Monday; ``minute``: minutes after midnight."""

    weekday: int
    minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")
        if not 0 <= self.minute < 24 * 60:
            raise ValueError(f"minute of day must be 0 to 1439, got {self.minute}")

    @property
    def time(self) -> str:
        """``HH:MM``."""
        return f"{self.minute // 60:02d}:{self.minute % 60:02d}"

    @classmethod
    def parse(cls, weekday: int, hhmm: str) -> Slot:
        """From a weekday and ``HH:MM`` (24 h)."""
        hh, sep, mm = hhmm.partition(":")
        if not sep or len(hh) != 2 or len(mm) != 2 or not (hh.isdigit() and mm.isdigit()):
            raise ValueError(f"time must be HH:MM, got {hhmm!r}")
        h, m = int(hh), int(mm)
        if h > 23 or m > 59:
            raise ValueError(f"time must be between 00:00 and 23:59, got {hhmm!r}")
        return cls(weekday, h * 60 + m)


def workspace_zone(name: str | None) -> ZoneInfo:
    """The :class:`ZoneInfo` of an IANA name; UTC when empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_to_utc(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``minute`` on ``day`` in ``tz``.

    ``fold=0`` gives the first occurrence of an ambiguous time, and for a
    time in a gap it applies the offset from before the transition, moving the
    time forward by the gap's length; both are what the module promises.
    """
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz).replace(fold=0)
    return local.astimezone(UTC)


def account_slots(session: Session, account_id: int) -> list[Slot]:
    """The account's slots, in week order."""
    rows = session.execute(
        select(PostingSlot.weekday, PostingSlot.minute_of_day)
        .where(PostingSlot.account_id == account_id)
        .order_by(PostingSlot.weekday, PostingSlot.minute_of_day)
    ).all()
    return [Slot(w, m) for w, m in rows]


def replace_slots(session: Session, account: SocialAccount, slots: Sequence[Slot]) -> list[Slot]:
    """Make ``slots`` the account's whole weekly schedule (the caller commits)."""
    wanted = sorted(set(slots))
    session.execute(delete(PostingSlot).where(PostingSlot.account_id == account.id))
    for s in wanted:
        session.add(PostingSlot(
            workspace_id=account.workspace_id, account_id=account.id,
            weekday=s.weekday, minute_of_day=s.minute,
        ))
    session.flush()
    return wanted


def slot_instants(slots: Sequence[Slot], tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Every slot instant strictly after ``after``, in time order, forever.

    Days are walked in the zone's calendar, so each slot keeps its wall-clock
    time whatever the UTC offset of that day.
    """
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    by_day: dict[int, list[int]] = {}
    for s in sorted(set(slots)):
        by_day.setdefault(s.weekday, []).append(s.minute)
    if not by_day:
        return
    # start a day early: a slot late on the previous local day can still be
    # after `after` when the zone's offset is far from UTC
    day = after.astimezone(tz).date() - timedelta(days=1)
    while True:
        # Sorted as instants, not as wall-clock minutes: in a spring gap 02:30
        # becomes 03:30 local, after a 03:00 slot; two local times may even
        # meet at one instant, which is kept once.
        instants = sorted({local_to_utc(day, minute, tz) for minute in by_day.get(day.weekday(), ())})
        for at in instants:
            if at > after:
                yield at
        day += timedelta(days=1)


def taken_instants(
    session: Session, account_id: int, after: datetime, *, exclude_post_id: int | None = None
) -> set[datetime]:
    """Times after ``after`` already held by a waiting target of the account
    (other than those of ``exclude_post_id``, a post being rescheduled)."""
    q = select(PostTarget.scheduled_at).where(
        PostTarget.account_id == account_id,
        PostTarget.status.in_(TAKING_STATUSES),
        PostTarget.scheduled_at > after,
    )
    if exclude_post_id is not None:
        q = q.where(PostTarget.post_id != exclude_post_id)
    rows = session.scalars(q).all()
    return {r.astimezone(UTC) for r in rows if r is not None}


def next_free_slot(
    session: Session,
    account: SocialAccount,
    tz: ZoneInfo | str,
    after: datetime,
    taken: Collection[datetime] = (),
    *,
    exclude_post_id: int | None = None,
) -> datetime | None:
    """The first slot instant of ``account`` after ``after`` that no waiting
    target of the account has taken.

    :param session: the database session.
    :param account: the account whose slots to use.
    :param tz: the workspace's zone (a :class:`ZoneInfo` or an IANA name).
    :param after: an aware datetime; the slot must be strictly later.
    :param taken: more instants to treat as taken (e.g. earlier picks in the
        same request, not flushed yet).
    :param exclude_post_id: a post being rescheduled: its own targets do
        not take slots from it.
    :returns: an aware UTC datetime, or ``None`` if the account has no slots.
    """
    zone = workspace_zone(tz) if isinstance(tz, str) else tz
    slots = account_slots(session, account.id)
    if not slots:
        return None
    busy = taken_instants(session, account.id, after, exclude_post_id=exclude_post_id) | {t.astimezone(UTC) for t in taken}
    # terminates: `busy` is finite and the instants never end
    for at in slot_instants(slots, zone, after):
        if at not in busy:
            return at
    return None  # pragma: no cover  (slot_instants is infinite when slots exist)
