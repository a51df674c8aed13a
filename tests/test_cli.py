"""The `mamori` command, run as a user runs it: a real process, a real server over HTTP."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

MAMORI = [sys.executable, "-m", "mamori.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh installation's environment: its own data directory, SQLite, no secret set."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MAMORI_", "DJANGO_"))}
    return {**base, "MAMORI_DATA_DIR": str(tmp_path / "data")}


def mamori(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAMORI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _password(output: str) -> str:
    match = re.search(r"One-time password: (\S+)", output)
    assert match, output
    return match.group(1)


def test_refuses_to_start_without_a_secret_outside_development(env: dict[str, str]) -> None:
    result = mamori(env, "check")
    assert result.returncode == 78
    assert "refusing to start with a default secret key" in result.stderr
    result = mamori({**env, "MAMORI_SECRET_KEY": "changeme"}, "check")
    assert result.returncode == 78


def test_bootstrap_creates_secret_and_first_admin_once(env: dict[str, str]) -> None:
    first = mamori(env, "bootstrap")
    assert first.returncode == 0, first.stderr
    assert len(_password(first.stdout)) >= 16
    secret = Path(env["MAMORI_DATA_DIR"], "secret_key")
    assert secret.stat().st_mode & 0o777 == 0o600
    again = mamori(env, "bootstrap")
    assert again.returncode == 73  # Conflict
    assert "an administrator already exists" in again.stderr
    assert mamori(env, "bootstrap", "--if-needed").returncode == 0
    check = mamori(env, "check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().endswith("ok")


def test_user_and_token_commands(env: dict[str, str]) -> None:
    assert mamori(env, "bootstrap").returncode == 0
    made = mamori(env, "user", "create", "ana", "--role", "analyst")
    assert made.returncode == 0 and "One-time password" in made.stdout
    duplicate = mamori(env, "user", "create", "ana", "--role", "analyst")
    assert duplicate.returncode == 73
    missing = mamori(env, "token", "create", "--user", "nobody", "--name", "x")
    assert missing.returncode == 66 and "no user named 'nobody'" in missing.stderr
    token = mamori(env, "token", "create", "--user", "ana", "--name", "ci")
    assert token.returncode == 0 and token.stdout.startswith("mamori_")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[tuple[str, str, dict[str, str]]]:
    boot = mamori(env, "bootstrap")
    assert boot.returncode == 0, boot.stderr
    port = _free_port()
    env["MAMORI_SMTP_PORT"] = str(_free_port())
    process = subprocess.Popen(
        [*MAMORI, "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            pytest.fail("the server did not come up")
        yield base, _password(boot.stdout), env
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_a_real_server_serves_login_api_and_docs(server: tuple[str, str, dict[str, str]]) -> None:
    base, password, env = server
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/accounts/login/") as response:
        assert response.status == 200
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"username": "admin", "password": password, "csrfmiddlewaretoken": csrf}
    ).encode()
    request = urllib.request.Request(f"{base}/accounts/login/", data=form, method="POST")
    request.add_header("Referer", f"{base}/accounts/login/")
    with opener.open(request) as response:
        # Logged in with the one-time password: sent to choose a new one.
        assert response.url.endswith("/accounts/password/")
        assert "Choose your password" in response.read().decode()

    with urllib.request.urlopen(f"{base}/api/openapi.json") as response:
        spec = json.load(response)
    assert "/api/cases/{tracking_id}/transitions" in spec["paths"]
    with urllib.request.urlopen(f"{base}/api/docs") as response:
        assert response.status == 200

    token = mamori(env, "token", "create", "--user", "admin", "--name", "t").stdout.strip()
    request = urllib.request.Request(f"{base}/api/me")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:  # a token is its own credential
        assert json.load(response)["role"] == "administrator"
    unauthenticated = urllib.request.Request(f"{base}/api/me")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unauthenticated)
    assert refused.value.code == 401
    assert json.load(refused.value)["error"] == "unauthenticated"


def test_mamori_run_receives_mail_and_works_it_into_a_case(
    server: tuple[str, str, dict[str, str]],
) -> None:
    """`mamori run` is the whole machine: web, worker and the SMTP listener together."""
    base, _, env = server
    sent = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", env["MAMORI_SMTP_PORT"], "--timeout", "20",
         "--from", "alice@example.net", "--to", "security@localhost",
         "--header", "Subject: Overflow reported by mail", "--body", "Details inside."],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    token = mamori(env, "token", "create", "--user", "admin", "--name", "t").stdout.strip()
    request = urllib.request.Request(f"{base}/api/cases")
    request.add_header("Authorization", f"Bearer {token}")
    for _ in range(100):  # the worker processes it in the background
        with urllib.request.urlopen(request) as response:
            cases = json.load(response)
        items = cases["items"] if isinstance(cases, dict) else cases
        if items:
            break
        time.sleep(0.2)
    assert [c["title"] for c in items] == ["Overflow reported by mail"]
    assert items[0]["source"] == "email"
