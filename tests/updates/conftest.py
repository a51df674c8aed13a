"""Fixtures for the update repository: its directories under ``tmp_path``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from mamori.config import Updates


@pytest.fixture
def updates_config(tmp_path: Path) -> Iterator[Updates]:
    """The repository, keys and content store in ``tmp_path/updates``, compressing fast."""
    base = tmp_path / "updates"
    config = dataclasses.replace(
        settings.MAMORI_UPDATES,
        repository_dir=base / "repository",
        keys_dir=base / "keys",
        content_dir=base / "content",
        compression_level=3,
    )
    with override_settings(MAMORI_UPDATES=config):
        yield config
