"""Fixtures of the advisories tests: the team's signing key, made once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import gpg_keys

SIGNING_PASSPHRASE = "署名の合言葉 sign here"


@pytest.fixture(scope="session")
def signing_key() -> Iterator[gpg_keys.Identity]:
    """The team's key pair (ed25519 primary that signs), unprotected, in its own gpg home."""
    with gpg_keys.identity("Example PSIRT <security@example.com>") as key:
        yield key


@pytest.fixture(scope="session")
def locked_signing_key() -> Iterator[gpg_keys.Identity]:
    """A team key protected by a (partly Japanese) passphrase."""
    with gpg_keys.identity(
        "Locked PSIRT <locked@example.com>", passphrase=SIGNING_PASSPHRASE
    ) as key:
        yield key
