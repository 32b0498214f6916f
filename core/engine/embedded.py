"""The embedded mode's engine: the dispatcher on a thread of the app, jobs on
the in-process runner (:class:`clientnest.queue.InProcessJobQueue`).

``start(runtime)`` when the app starts (if ``settings.embedded_dispatcher``),
``stop()`` when it stops. With ``settings.redis_url`` set, ``start`` runs only
the dispatcher and the jobs go to RQ (the app may still host the scheduler).
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from ..queue import InProcessJobQueue, get_queue
from .dispatcher import Dispatcher

__all__ = ["start", "stop", "running"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict[str, Any] = {}


def start(runtime: Any) -> Dispatcher:
    """Start the dispatcher thread (idempotent); returns the dispatcher."""
    with _lock:
        if _state.get("thread") is not None and _state["thread"].is_alive():
            return _state["dispatcher"]
        dispatcher = Dispatcher(runtime, get_queue(runtime))
        stop_event = threading.Event()
        thread = threading.Thread(target=dispatcher.run, args=(stop_event,), name="cn-dispatcher", daemon=True)
        _state.update(runtime=runtime, dispatcher=dispatcher, stop=stop_event, thread=thread)
        thread.start()
        log.info("engine started (%s jobs)", "in-process" if runtime.settings.embedded else "RQ")
        return dispatcher


def running() -> bool:
    t = _state.get("thread")
    return t is not None and t.is_alive()


def stop(timeout: float = 10.0) -> None:
    """Stop the dispatcher and let running jobs finish. Jobs not started stay
    ``queued`` in the database and are enqueued again at the next start."""
    with _lock:
        stop_event, thread, runtime = _state.get("stop"), _state.get("thread"), _state.get("runtime")
        if stop_event is None or thread is None:
            return
        stop_event.set()
        thread.join(timeout)
        queue = runtime.extras.get("queue") if runtime is not None else None
        if isinstance(queue, InProcessJobQueue):
            runtime.extras.pop("queue", None)
            queue.close()
        _state.clear()
