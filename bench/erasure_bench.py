"""Erasure latency for subjects with 10, 1,000 and 10,000 events: it must stay flat.

Run: ``.venv/bin/python -m bench.erasure_bench [--repeat 5]``. Starts its own PostgreSQL
(durable settings), prints median/min/max milliseconds per size. Not part of the tests.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from uuid import UUID

from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.harness import start_postgres

SIZES = (10, 1_000, 10_000)


def contact_with_events(service: Service, tenant_id: UUID, events: int) -> UUID:
    contact, _ = service.crm.register_contact(tenant_id, "bench", {"full_name": "Bench Subject"})
    remaining = events - 1
    while remaining > 0:
        loaded = service.crm.contact(tenant_id, contact.id)
        for i in range(min(remaining, 500)):
            loaded.update(actor="bench", changes={"age": 20 + i % 50}, sealer=service.crm.sealer)
        remaining -= min(remaining, 500)
        service.crm.commit(loaded)
    return contact.id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    server = start_postgres(durable=True)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    try:
        settings = Settings.from_env(
            {
                "CRM_DATA_DIR": tempfile.mkdtemp(prefix="crm-bench-"),
                "CRM_DATABASE_URL": server.create_database("bench_events"),
                "CRM_KEYSTORE_URL": server.create_database("bench_keys"),
                "CRM_KEK": key,
            }
        )
        service = bootstrap(settings)
        tenant, _ = service.crm.create_tenant("Bench")
        print(f"{'events':>8}  {'median ms':>9}  {'min ms':>7}  {'max ms':>7}")
        for size in SIZES:
            subjects = [contact_with_events(service, tenant.id, size) for _ in range(args.repeat)]
            timings = []
            for subject in subjects:
                started = time.perf_counter()
                service.crm.erase_contact(tenant.id, subject, "bench", "benchmark", None)
                timings.append((time.perf_counter() - started) * 1000)
            print(
                f"{size:>8}  {statistics.median(timings):>9.2f}  {min(timings):>7.2f}"
                f"  {max(timings):>7.2f}"
            )
        service.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
