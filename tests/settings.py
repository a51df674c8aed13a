"""Test settings: the real settings, read from a test environment.

Runs on SQLite by default; set MAMORI_TEST_DATABASE_URL (postgresql://…) to run on PostgreSQL.
"""

import os
import secrets
import tempfile

_data = tempfile.mkdtemp(prefix="mamori-test-")
os.environ["MAMORI_DATA_DIR"] = _data
os.environ["MAMORI_SECRET_KEY"] = secrets.token_urlsafe(48)
os.environ.pop("MAMORI_DEV", None)
os.environ["MAMORI_DATABASE_URL"] = os.environ.get("MAMORI_TEST_DATABASE_URL", "")

from mamori.settings import *  # noqa: E402, F403

# Keep a test database file next to the data so SQLite runs the same WAL setup as production.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_data, "test.sqlite3")}  # noqa: F405

# Background tasks run at once, in the process that enqueues them (the worker is tested on its own).
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
