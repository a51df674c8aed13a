"""Case page: server time to render a case with 150 messages and 100 audit entries.

Goal (issue #2): under 200 ms of server time. Each request goes through the whole Django stack
(middleware, session, the service query, the template) in-process with the test client, so the
figure is server time without the network. Baselines measured in the same run: the login page
(a bare template render) and an empty case; a case ten times larger shows how it scales.

Runs on SQLite (a file database in WAL mode, as in production) and, when
MAMORI_BENCH_DATABASE_URL is set, on PostgreSQL too.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

ROUNDS = 30
GOAL_MS = 200.0


def _setup() -> None:
    data = tempfile.mkdtemp(prefix="mamori-bench-")
    os.environ["MAMORI_DATA_DIR"] = data
    os.environ["MAMORI_SECRET_KEY"] = secrets.token_urlsafe(48)
    os.environ["MAMORI_DATABASE_URL"] = os.environ.get("MAMORI_BENCH_DATABASE_URL", "")
    os.environ["MAMORI_ALLOWED_HOSTS"] = "testserver"
    os.environ["DJANGO_SETTINGS_MODULE"] = "mamori.settings"
    import django

    django.setup()
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, keepdb=False)


def _fill(admin: object, messages: int, audit: int) -> tuple[str, int, int]:
    from mamori.cases import services
    from mamori.cases.audit import AuditLog
    from mamori.cases.models import Case

    case = services.create_case(admin, services.CaseDraft(title="Heap overflow in the parser"))
    for i in range(messages):
        services.post_message(
            admin,
            case.tracking_id,
            f"Message {i}: steps to reproduce, logs and a proof of concept.\n" * 5,
            internal_note=i % 3 == 0,
        )
    row = Case.objects.get(pk=case.pk)
    have = row.audit_entries.count()
    log = AuditLog(row, admin)  # type: ignore[arg-type]
    for i in range(max(0, audit - have)):
        log.change("title", f"title {i}", f"title {i + 1}")
    log.save()
    return case.tracking_id, row.messages.count(), row.audit_entries.count()


def _time(fetch: Callable[[], int]) -> list[float]:
    fetch()  # warm up: template compilation, first connection
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        status = fetch()
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 200, status
    return samples


def run() -> None:
    _setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from mamori.accounts.services import create_user
    from mamori.core.authz import Role

    admin, _ = create_user(None, username="bench", role=Role.ADMINISTRATOR)
    admin.must_change_password = False
    admin.save()
    client = Client()
    client.force_login(admin)
    rows = [("login page (baseline)", lambda: Client().get("/accounts/login/").status_code)]
    for label, messages, audit in (
        ("empty case (baseline)", 0, 0),
        ("goal case", 150, 100),
        ("10x case", 1500, 1000),
    ):
        tid, n_messages, n_audit = _fill(admin, messages, audit)
        label = f"{label}: {n_messages} messages, {n_audit} audit entries"
        rows.append((label, lambda tid=tid: client.get(f"/cases/{tid}/").status_code))
    engine = connection.vendor
    print(f"database: {engine}; {ROUNDS} requests each; server time in ms\n")
    print("| page | median | p95 | max | queries | goal |")
    print("|---|---:|---:|---:|---:|---|")
    for label, fetch in rows:
        samples = _time(fetch)
        with CaptureQueriesContext(connection) as queries:
            fetch()
        p95 = statistics.quantiles(samples, n=20)[-1]
        verdict = "met" if p95 < GOAL_MS else "MISSED"
        goal = f"{verdict} (<{GOAL_MS:.0f})" if label.startswith("goal") else ""
        print(
            f"| {label} | {statistics.median(samples):.1f} | {p95:.1f} | {max(samples):.1f} "
            f"| {len(queries)} | {goal} |"
        )


def main() -> None:
    if os.environ.get("_MAMORI_BENCH_CHILD"):
        run()
        return
    targets = [("sqlite", "")]
    if os.environ.get("MAMORI_BENCH_DATABASE_URL"):
        targets.append(("postgresql", os.environ["MAMORI_BENCH_DATABASE_URL"]))
    for _name, url in targets:
        env = {**os.environ, "_MAMORI_BENCH_CHILD": "1", "MAMORI_BENCH_DATABASE_URL": url}
        subprocess.run([sys.executable, __file__], env=env, check=True)
        print()


if __name__ == "__main__":
    main()
