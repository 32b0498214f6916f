"""Fixed-window rate limiting (login, registration, adding members).

At most ``limit`` hits per key in each window of ``window`` seconds. A key's
window starts at its first hit (not at a clock boundary, where a burst could
otherwise straddle two windows and get twice the limit).

Two backends behind the one :class:`RateLimiter`:

- embedded mode: a dict of counters guarded by a lock, per process;
- production (``settings.redis_url`` set): Redis ``SET NX EX`` + ``INCR`` on
  one key per counter, shared by every API process.

If Redis cannot be reached the limiter falls back to the in-process counters
(and logs it) rather than refusing every login: the limit still holds per
process, and logging in never depends on the queue being up.

:func:`limiter_for` gives one of the runtime's limiters by name, each built
once with its limit from the settings (:data:`LIMITS`).
"""
from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["Decision", "RateLimiter", "LIMITS", "limiter_for", "key_for"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "clientnest:ratelimit:"
# the in-process dict is swept of finished windows once it grows past this
_SWEEP_AT = 10_000


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit: allowed or not, and when the window resets."""

    allowed: bool
    #: hits counted in the current window, this one included
    count: int
    limit: int
    #: whole seconds until the current window ends (at least 1)
    retry_after: int


def key_for(kind: str, value: str) -> str:
    """A counter key that does not carry the raw value (e.g. an email) into
    Redis or a debugger: ``kind:`` + a SHA-256 prefix of the value."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


class RateLimiter:
    """Fixed-window counters with an in-process or a Redis backend.

    :param limit: hits allowed per key and window.
    :param window: window length in seconds.
    :param redis_url: empty for the in-process backend.
    :param prefix: prepended to every Redis key (tests use one per test).
    :param clock: seconds since the epoch; injectable for tests.
    """

    def __init__(
        self,
        limit: int,
        window: int = 60,
        *,
        redis_url: str = "",
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1 or window < 1:
            raise ValueError("rate limit and window must be at least 1")
        self.limit = limit
        self.window = window
        self.prefix = prefix
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (window start, count)
        self._redis: Any = None
        if redis_url:
            from redis import Redis

            # short timeouts: a stuck Redis must not hold a login request
            self._redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    def hit(self, *keys: str) -> Decision:
        """Count one hit on every key; denied if any key is over the limit.

        Every key is counted even when an earlier one is already over, so an
        attacker spreading attempts cannot dodge one of the counters.
        """
        if not keys:
            raise ValueError("hit() needs at least one key")
        now = self._clock()
        counts = [self._incr(key, now) for key in keys]
        highest = max(c for c, _ in counts)
        retry_after = max(r for c, r in counts if c == highest)
        return Decision(highest <= self.limit, highest, self.limit, retry_after)

    def _incr(self, key: str, now: float) -> tuple[int, int]:
        """(hits in the key's current window, seconds until it ends)."""
        if self._redis is not None:
            try:
                return self._incr_redis(key)
            except Exception as exc:  # any Redis failure: degrade, never 500
                log.warning("rate limiter: Redis unavailable (%s); counting in process", type(exc).__name__)
        return self._incr_memory(key, now)

    def _incr_redis(self, key: str) -> tuple[int, int]:
        name = f"{self.prefix}{key}"
        pipe = self._redis.pipeline(transaction=True)
        # the first hit opens the window (SET NX with its expiry); INCR keeps
        # the key's TTL, so the window never stretches
        pipe.set(name, 0, ex=self.window, nx=True)
        pipe.incr(name)
        pipe.ttl(name)
        _, count, ttl = pipe.execute()
        return int(count), max(1, int(ttl))

    def _incr_memory(self, key: str, now: float) -> tuple[int, int]:
        with self._lock:
            start, count = self._counts.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            count += 1
            self._counts[key] = (start, count)
            if len(self._counts) > _SWEEP_AT:
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window}
            return count, max(1, math.ceil(start + self.window - now))

    def reset(self) -> None:
        """Forget the in-process counters (Redis keys expire on their own)."""
        with self._lock:
            self._counts.clear()

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


_build_lock = threading.Lock()

#: limiter name -> the setting holding its hits per minute
LIMITS: dict[str, str] = {
    # login attempts per account *and* address, registrations per address:
    # one address failing on an account locks only itself out of it
    "login": "login_rate_limit",
    # login attempts per client address, whatever the account
    "login_address": "login_address_rate_limit",
    # members added per admin (an unknown email answers like a known one, and
    # this keeps anyone from trying a list of addresses)
    "member_add": "member_add_rate_limit",
}


def limiter_for(runtime: Runtime, name: str = "login") -> RateLimiter:
    """The runtime's limiter ``name`` (see :data:`LIMITS`: its setting's hits
    per minute), on Redis when ``settings.redis_url`` is set, else in process."""
    setting = LIMITS[name]
    # "ratelimit" for the login limiter: the key it has always had
    slot = "ratelimit" if name == "login" else f"ratelimit:{name}"
    limiter = runtime.extras.get(slot)
    if limiter is None:
        with _build_lock:
            limiter = runtime.extras.get(slot)
            if limiter is None:
                s = runtime.settings
                limiter = RateLimiter(int(getattr(s, setting)), 60, redis_url=s.redis_url)
                runtime.extras[slot] = limiter
    return limiter
