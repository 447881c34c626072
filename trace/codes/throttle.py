"""A token bucket per client for answers that are not genuine codes (enumeration attempts).

In-process and per worker: with W gunicorn workers a client can get up to W times the rate
before every worker has seen it (requests land on workers round-robin). That is enough to
make guessing hopeless (a 64-bit tag, docs/codes.md §2.5) while keeping one real person who
mistypes a few codes well inside the limit; a shared limiter is not worth a round trip on
every scan. Memory is bounded: the least recently charged clients are forgotten first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

DEFAULT_CAPACITY: Final = 20  # unknown codes a client may try at once
DEFAULT_REFILL_PER_S: Final = 0.1  # then one every 10 seconds
DEFAULT_MAX_CLIENTS: Final = 10_000


class TokenBucket:
    def __init__(
        self,
        capacity: float = DEFAULT_CAPACITY,
        refill_per_s: float = DEFAULT_REFILL_PER_S,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _level(self, client: bytes, now: float) -> float:
        tokens, then = self._buckets.get(client, (self.capacity, now))
        return min(self.capacity, tokens + (now - then) * self.refill_per_s)

    def allowed(self, client: bytes) -> bool:
        """Whether the client has a token left (without taking one)."""
        with self._lock:
            return self._level(client, self.clock()) >= 1

    def charge(self, client: bytes) -> None:
        """Take one token (an answer that was not a genuine code)."""
        with self._lock:
            now = self.clock()
            self._buckets[client] = (max(0.0, self._level(client, now) - 1), now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)

    def retry_after(self, client: bytes) -> int:
        """Seconds until the client has a token again."""
        with self._lock:
            missing = 1 - self._level(client, self.clock())
        return max(1, int(missing / self.refill_per_s + 0.999)) if missing > 0 else 0
