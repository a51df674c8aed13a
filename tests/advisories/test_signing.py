"""GpgSigner against the real gpg: signatures a consumer verifies, and clear refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.advisories.signing import GpgSigner
from mamori.errors import ConfigurationError
from tests import gpg_keys
from tests.advisories.conftest import SIGNING_PASSPHRASE

pytestmark = pytest.mark.integration

DOCUMENT = '{"document": {"title": "クロスサイトスクリプティング"}}\n'.encode()


@pytest.fixture
def consumer() -> Iterator[Path]:
    """Someone else's gpg home, as a CSAF consumer verifying downloads."""
    with gpg_keys.temporary_home() as home:
        yield home


def verify(home: Path, signed: bytes, signature: bytes, tmp_path: Path) -> bytes:
    (tmp_path / "doc.json").write_bytes(signed)
    (tmp_path / "doc.json.asc").write_bytes(signature)
    return gpg_keys.run_gpg(
        home,
        "--status-fd",
        "1",
        "--verify",
        str(tmp_path / "doc.json.asc"),
        str(tmp_path / "doc.json"),
    )


def test_a_detached_armored_signature_verifies_with_the_exported_key(
    signing_key: gpg_keys.Identity, consumer: Path, tmp_path: Path
) -> None:
    signer = GpgSigner(signing_key.home, signing_key.fingerprint.lower())
    assert signer.fingerprint == signing_key.fingerprint
    signature = signer.sign(DOCUMENT)
    assert signature.startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert DOCUMENT not in signature  # detached: the document is not inside
    public = signer.public_key()
    assert public.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    gpg_keys.run_gpg(consumer, "--import", input=public)
    status = verify(consumer, DOCUMENT, signature, tmp_path)
    assert b"[GNUPG:] GOODSIG " in status
    assert f" {signing_key.fingerprint}\n".encode() in status
    with pytest.raises(gpg_keys.GpgFailed, match="BAD signature"):
        verify(consumer, DOCUMENT.replace("クロス".encode(), b"XSS "), signature, tmp_path)


def test_the_exported_key_carries_no_secret(signing_key: gpg_keys.Identity) -> None:
    public = GpgSigner(signing_key.home, signing_key.fingerprint).public_key()
    assert public == signing_key.public_key()
    assert b"PRIVATE KEY" not in public


def test_a_protected_key_signs_with_its_passphrase(
    locked_signing_key: gpg_keys.Identity, consumer: Path, tmp_path: Path
) -> None:
    gpg_keys.kill_agent(locked_signing_key.home)  # no cached passphrase from key generation
    signer = GpgSigner(locked_signing_key.home, locked_signing_key.fingerprint, SIGNING_PASSPHRASE)
    signature = signer.sign(DOCUMENT)
    gpg_keys.run_gpg(consumer, "--import", input=signer.public_key())
    assert b"[GNUPG:] GOODSIG " in verify(consumer, DOCUMENT, signature, tmp_path)


def test_a_wrong_passphrase_is_a_configuration_error(locked_signing_key: gpg_keys.Identity) -> None:
    gpg_keys.kill_agent(locked_signing_key.home)
    signer = GpgSigner(locked_signing_key.home, locked_signing_key.fingerprint, "wrong")
    with pytest.raises(ConfigurationError, match=locked_signing_key.fingerprint) as caught:
        signer.sign(DOCUMENT)
    assert "refused the passphrase (MAMORI_GPG_PASSPHRASE)" in caught.value.message


def assert_names_what_to_set(error: ConfigurationError, fingerprint: str, home: Path) -> None:
    assert fingerprint in error.message
    assert str(home) in error.message
    assert "MAMORI_SIGNING_KEY" in error.message
    assert "MAMORI_GNUPG_HOME" in error.message


def test_a_fingerprint_not_in_the_keyring_is_refused(signing_key: gpg_keys.Identity) -> None:
    other = "F" * 40
    with pytest.raises(ConfigurationError, match="not in the keyring") as caught:
        GpgSigner(signing_key.home, other)
    assert_names_what_to_set(caught.value, other, signing_key.home)


def test_a_public_only_key_is_refused(signing_key: gpg_keys.Identity) -> None:
    with gpg_keys.temporary_home() as home:
        gpg_keys.run_gpg(home, "--import", input=signing_key.public_key())
        with pytest.raises(ConfigurationError, match="only its public part") as caught:
            GpgSigner(home, signing_key.fingerprint)
        assert_names_what_to_set(caught.value, signing_key.fingerprint, home)


def test_a_fingerprint_that_is_not_one_is_refused(signing_key: gpg_keys.Identity) -> None:
    with pytest.raises(ConfigurationError, match=r"MAMORI_SIGNING_KEY.*40 or 64"):
        GpgSigner(signing_key.home, "0xDEADBEEF")


def test_an_expired_key_is_refused() -> None:
    expired = gpg_keys.identity(
        "Old PSIRT <old@example.com>", expire="1d", faked_time="20200101T120000"
    )
    with expired as old, pytest.raises(ConfigurationError, match="has expired"):
        GpgSigner(old.home, old.fingerprint)


def test_a_protected_key_without_a_passphrase_says_what_to_set(
    locked_signing_key: gpg_keys.Identity,
) -> None:
    gpg_keys.kill_agent(locked_signing_key.home)
    signer = GpgSigner(locked_signing_key.home, locked_signing_key.fingerprint)
    with pytest.raises(ConfigurationError, match="protected: set MAMORI_GPG_PASSPHRASE"):
        signer.sign(DOCUMENT)
