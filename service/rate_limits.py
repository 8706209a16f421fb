"""Fixed-window rate limits kept in the service's database, so every API process shares them.

A bucket name such as ``login:ip:<address>`` names personal data (an IP address is personal
under the privacy policy), so only its keyed hash is stored, and windows older than one
window are deleted as new hits arrive.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable

from crypto.derive import derive_key
from sqlstore.sql import SqlDatabase

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS rate_limit_windows (
        bucket TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        hits INTEGER NOT NULL,
        PRIMARY KEY (bucket, window_start)
    )""",
    "CREATE INDEX IF NOT EXISTS rate_limit_windows_start ON rate_limit_windows (window_start)",
]


class RateLimiter:
    """Counts hits per bucket per window; answers how long to wait once a bucket is full."""

    def __init__(
        self,
        db: SqlDatabase,
        secret: bytes,
        window_seconds: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.window = window_seconds
        self.clock = clock
        self._key = derive_key(secret, "rate-limit-bucket")

    def create_tables(self) -> None:
        self.db.run_script(SCHEMA)

    def hit(self, bucket: str, limit: int) -> int | None:
        """Count one hit; ``None`` while within ``limit``, else the seconds until it resets."""
        now = self.clock()
        start = int(now // self.window) * self.window
        ref = hmac.new(self._key, bucket.encode(), hashlib.sha256).hexdigest()
        with self.db.transaction() as cur:
            cur.execute(
                "DELETE FROM rate_limit_windows WHERE window_start < :start", {"start": start}
            )
            row = cur.execute(
                "INSERT INTO rate_limit_windows (bucket, window_start, hits)"
                " VALUES (:bucket, :start, 1) ON CONFLICT (bucket, window_start)"
                " DO UPDATE SET hits = rate_limit_windows.hits + 1 RETURNING hits",
                {"bucket": ref, "start": start},
            ).fetchone()
        hits = int(row["hits"]) if row else 1
        if hits <= limit:
            return None
        return max(1, math.ceil(start + self.window - now))
