"""The development server serves the repository like a good static server: ranges and ETags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from mamori.config import Updates

CONTENT = bytes(range(256)) * 40  # 10,240 bytes
HASHED = "targets/bundles/portal/" + "ab" * 32 + ".portal-2.mbundle"


@pytest.fixture
def repository(updates_config: Updates) -> Path:
    root = updates_config.repository_dir
    for name, body in {
        HASHED: CONTENT,
        "metadata/timestamp.json": b'{"signed": {}}',
        "metadata/3.snapshot.json": b"{}",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return root


def get(client: Client, path: str, method: str = "get", **headers: str) -> tuple[Any, bytes]:
    """Fetch ``/updates/<path>``, read the whole body and close the response (and its file)."""
    response = getattr(client, method)(f"/updates/{path}", **headers)
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    response.close()
    return response, content


def test_a_whole_file_with_a_strong_etag(client: Client, repository: Path) -> None:
    response, content = get(client, HASHED)
    assert response.status_code == 200
    assert content == CONTENT
    assert response["Content-Length"] == str(len(CONTENT))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"].startswith('"') and not response["ETag"].startswith("W/")
    assert "immutable" in response["Cache-Control"]
    assert get(client, "metadata/timestamp.json")[0]["Cache-Control"] == "no-cache"
    assert "immutable" in get(client, "metadata/3.snapshot.json")[0]["Cache-Control"]
    head, _ = get(client, HASHED, "head")
    assert head.status_code == 200 and head["ETag"] == response["ETag"]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=10200-99999", 10200, 10239),
    ],
)
def test_byte_ranges(client: Client, repository: Path, header: str, start: int, end: int) -> None:
    response, content = get(client, HASHED, HTTP_RANGE=header)
    assert response.status_code == 206
    assert content == CONTENT[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(CONTENT)}"
    assert response["Content-Length"] == str(end - start + 1)


def test_a_range_past_the_end_is_416(client: Client, repository: Path) -> None:
    response, _ = get(client, HASHED, HTTP_RANGE="bytes=20000-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(CONTENT)}"


def test_if_range_with_a_stale_etag_gets_the_whole_file(client: Client, repository: Path) -> None:
    tag = get(client, HASHED, "head")[0]["ETag"]
    fresh, content = get(client, HASHED, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=tag)
    assert fresh.status_code == 206 and content == CONTENT[:10]
    stale, content = get(client, HASHED, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"old"')
    assert stale.status_code == 200 and content == CONTENT


def test_if_none_match_and_a_replaced_file(client: Client, repository: Path) -> None:
    name = "metadata/timestamp.json"
    tag = get(client, name, "head")[0]["ETag"]
    assert get(client, name, HTTP_IF_NONE_MATCH=tag)[0].status_code == 304
    assert get(client, name, HTTP_IF_NONE_MATCH=f"W/{tag}")[0].status_code == 304
    new = repository / "metadata/.timestamp.new"
    new.write_bytes(b'{"signed": {"version": 2}}')
    os.replace(new, repository / name)  # how the repository publishes
    again, content = get(client, name, HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 200 and again["ETag"] != tag
    assert content == b'{"signed": {"version": 2}}'


def test_nothing_outside_the_tree_is_served(
    client: Client, repository: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text("private key")
    (repository / "targets/link").symlink_to(tmp_path / "secret")
    (repository.parent / "keys").mkdir()
    (repository.parent / "keys/timestamp.pem").write_text("key")
    for path in (
        "targets/link",
        "targets/../../keys/timestamp.pem",
        "../keys/timestamp.pem",
        "keys/timestamp.pem",
        "metadata/missing.json",
        "targets/bundles",
    ):
        assert get(client, path)[0].status_code == 404, path
    assert get(client, HASHED, "post")[0].status_code == 405
