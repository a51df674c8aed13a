"""What an update asks of the host besides files: services to stop and restart, and checks.

A :class:`ServiceManager` stops, starts and restarts services by name; :class:`CommandServices`
runs a command per action (``systemctl {action} {service}`` by default in the CLI, no shell), and
:class:`NoServices` is the explicit choice for roots without services. Checks (a file exists,
with a hash; a path is absent; a command exits 0) run in the install root, never through a shell.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from mamori.core.bundle import CHUNK
from mamori.core.manifest import Check, CheckKind
from mamori.core.paths import lstat_beneath, open_beneath
from mamori.errors import InvalidInput, ServiceFailed


class ServiceManager(Protocol):
    def stop(self, name: str) -> None: ...
    def start(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...


class CommandServices:
    """Runs one command per action: ``["systemctl", "{action}", "{service}"]`` (no shell)."""

    def __init__(self, argv_template: Sequence[str], timeout: float = 120) -> None:
        if not any("{service}" in arg for arg in argv_template):
            raise InvalidInput("the command must contain {service}", field="argv_template")
        self._template = tuple(argv_template)
        self._timeout = timeout

    def stop(self, name: str) -> None:
        self._run("stop", name)

    def start(self, name: str) -> None:
        self._run("start", name)

    def restart(self, name: str) -> None:
        self._run("restart", name)

    def _run(self, action: str, name: str) -> None:
        argv = [a.replace("{action}", action).replace("{service}", name) for a in self._template]
        shown = shlex.join(argv)
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServiceFailed(f"`{shown}` timed out after {self._timeout:g} s") from None
        except OSError as error:
            raise ServiceFailed(f"cannot run `{shown}`: {error.strerror}") from None
        if result.returncode != 0:
            raise ServiceFailed(
                f"`{shown}` exited with status {result.returncode}: {tail(result.stdout)}"
            )


class NoServices:
    """For roots without services: every action does nothing."""

    def stop(self, name: str) -> None:
        return None

    def start(self, name: str) -> None:
        return None

    def restart(self, name: str) -> None:
        return None


def first_failure(root: Path, checks: Sequence[Check]) -> str | None:
    """``None`` if every check passes, else which one failed and why: ``'name': problem``."""
    for check in checks:
        problem = check_problem(root, check)
        if problem:
            shown = (
                check.description or f"{check.kind.value} {check.path or shlex.join(check.argv)}"
            )
            return f"{shown!r}: {problem}"
    return None


def check_problem(root: Path, check: Check) -> str | None:
    if check.kind is CheckKind.COMMAND:
        return command_problem(root, check)
    try:
        st = lstat_beneath(root, check.path)
        if check.kind is CheckKind.ABSENT:
            return None if st is None else f"{check.path} exists"
        if st is None or not stat.S_ISREG(st.st_mode):
            return f"{check.path} is missing"
        if check.sha256 and sha256_beneath(root, check.path) != check.sha256:
            return f"{check.path} does not have the expected content"
    except InvalidInput as error:
        return error.message
    return None


def command_problem(root: Path, check: Check) -> str | None:
    try:
        result = subprocess.run(
            list(check.argv),
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=check.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {check.timeout} s"
    except OSError as error:
        return f"cannot run {check.argv[0]}: {error.strerror}"
    if result.returncode != 0:
        return f"exit status {result.returncode}: {tail(result.stdout)}"
    return None


def sha256_beneath(root: Path, path: str) -> str:
    digest = hashlib.sha256()
    with os.fdopen(open_beneath(root, path), "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tail(output: bytes) -> str:
    text = output.decode("utf-8", "replace").strip()
    return ("…" + text[-500:]) if len(text) > 500 else (text or "(no output)")
