"""The gpg adapter against the real gpg: team and reporter keys in separate homes, no mocks."""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from mamori.core.pgp import Decryption, Encryption, Signature, Verification
from mamori.errors import ConfigurationError, InvalidInput, NotFound
from mamori.intake.gpg import GnuPG
from tests import gpg_keys
from tests.gpg_keys import Identity

pytestmark = pytest.mark.integration

REPORT = "SQLインジェクションの脆弱性を報告します。\r\n再現手順:\n1. ログイン画面を開く".encode()
PASSPHRASE = "正しい合言葉 correct horse"
T = TypeVar("T")


def within(seconds: float, call: Callable[[], T]) -> T:
    """``call()``, or a failed test if it has not returned in time (gpg waiting for input).

    The call runs in a daemon thread, so a gpg that hangs cannot hold up the end of the run.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if failure:
        raise failure[0]
    assert outcome, f"no answer within {seconds} s: is gpg waiting for input?"
    return outcome[0]


def flip(data: bytes, position: int) -> bytes:
    damaged = bytearray(data)
    damaged[position] ^= 0x55
    return bytes(damaged)


@pytest.fixture(scope="module")
def team() -> Iterator[Identity]:
    with gpg_keys.identity("Mamori PSIRT <security@example.org>") as key:
        yield key


@pytest.fixture(scope="module")
def reporter() -> Iterator[Identity]:
    with gpg_keys.identity("山田 太郎 <taro@example.jp>") as key:
        yield key


@pytest.fixture(scope="module")
def newcomer() -> Iterator[Identity]:
    """Another team, whose keyring holds no reporter's key."""
    with gpg_keys.identity("Newcomer PSIRT <psirt@example.net>") as key:
        yield key


@pytest.fixture(scope="module")
def locked() -> Iterator[Identity]:
    """A team whose secret key is protected by a (partly Japanese) passphrase."""
    with gpg_keys.identity("Locked PSIRT <locked@example.org>", passphrase=PASSPHRASE) as key:
        yield key


@pytest.fixture(scope="module")
def gpg(team: Identity, reporter: Identity) -> GnuPG:
    """The team's adapter; the reporter's public key is in the keyring, uncertified."""
    adapter = GnuPG(team.home)
    adapter.import_keys(reporter.public_key())
    return adapter


@pytest.fixture
def empty_home() -> Iterator[Path]:
    with gpg_keys.temporary_home() as home:
        yield home


# --- decryption ------------------------------------------------------------------------------


def test_signed_report_from_a_known_reporter_decrypts_and_verifies(
    gpg: GnuPG, team: Identity, reporter: Identity
) -> None:
    result = gpg.decrypt(reporter.encrypt(REPORT, team))

    assert result.encryption is Encryption.DECRYPTED
    assert result.plaintext == REPORT
    assert result.verification.signature is Signature.VALID
    assert result.verification.fingerprint == reporter.fingerprint
    assert result.verification.signer == "山田 太郎 <taro@example.jp>"
    assert "trust: undefined" in result.verification.detail
    assert "山田 太郎" in result.verification.detail  # gpg's words, decoded as UTF-8


def test_signature_by_a_reporter_missing_from_the_keyring_is_unknown_key(
    newcomer: Identity, reporter: Identity
) -> None:
    result = GnuPG(newcomer.home).decrypt(reporter.encrypt(REPORT, newcomer))

    assert result.encryption is Encryption.DECRYPTED
    assert result.plaintext == REPORT
    assert result.verification.signature is Signature.UNKNOWN_KEY
    assert result.verification.fingerprint == reporter.fingerprint
    assert result.verification.signer == ""
    assert reporter.fingerprint[-16:] in result.verification.detail


def test_unsigned_message_decrypts_without_a_signature(
    gpg: GnuPG, team: Identity, reporter: Identity
) -> None:
    result = gpg.decrypt(reporter.encrypt(REPORT, team, sign=False))

    assert result == Decryption(Encryption.DECRYPTED, REPORT, Verification(), result.detail)


def test_message_for_a_key_the_team_does_not_hold_is_no_key(gpg: GnuPG, reporter: Identity) -> None:
    result = gpg.decrypt(reporter.encrypt(REPORT, reporter))

    assert result.encryption is Encryption.NO_KEY
    assert result.encryption.needs_analyst
    assert reporter.encryption_key_id in result.detail
    assert result.plaintext == b""


def test_message_for_the_team_and_someone_else_decrypts(
    gpg: GnuPG, team: Identity, reporter: Identity, newcomer: Identity
) -> None:
    result = gpg.decrypt(reporter.encrypt(REPORT, newcomer, team))

    assert result.encryption is Encryption.DECRYPTED
    assert result.plaintext == REPORT


def test_anonymous_recipients_are_tried_against_the_team_key(
    gpg: GnuPG, team: Identity, reporter: Identity
) -> None:
    def hidden(recipient: Identity) -> bytes:
        if recipient is not reporter:
            reporter.learn(recipient)
        args = ["--trust-model", "always", "--encrypt", "--armor"]
        return reporter.gpg(*args, "--hidden-recipient", recipient.fingerprint, input=REPORT)

    for_team, for_reporter = gpg.decrypt(hidden(team)), gpg.decrypt(hidden(reporter))

    assert (for_team.encryption, for_team.plaintext) == (Encryption.DECRYPTED, REPORT)
    assert for_reporter.encryption is Encryption.NO_KEY
    assert "0000000000000000" in for_reporter.detail  # gpg's name for an anonymous recipient


@pytest.mark.parametrize("position", [-5, -40, 40], ids=["mdc", "near-end", "near-start"])
def test_damaged_ciphertext_fails_and_releases_no_plaintext(
    gpg: GnuPG, team: Identity, reporter: Identity, position: int
) -> None:
    ciphertext = reporter.encrypt(REPORT * 20, team, armor=False)

    result = gpg.decrypt(flip(ciphertext, position))

    assert result.encryption is Encryption.FAILED
    assert result.plaintext == b""
    assert result.verification == Verification()
    assert result.detail.startswith("decryption failed")


def test_modified_message_is_named_as_such_although_gpg_printed_its_plaintext(
    gpg: GnuPG, team: Identity, reporter: Identity
) -> None:
    ciphertext = reporter.encrypt(REPORT, team, armor=False, sign=False)

    result = gpg.decrypt(flip(ciphertext, -1))  # the last byte of the integrity hash

    assert result == Decryption(Encryption.FAILED, detail=result.detail)
    assert "integrity check failed" in result.detail
    assert "manipulated" in result.detail  # gpg's own words follow


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Hello, this is not encrypted.\n",
        bytes(range(256)) * 64,
        b"-----BEGIN PGP MESSAGE-----\n\nAAAAgarbage==\n-----END PGP MESSAGE-----\n",
    ],
    ids=["empty", "text", "binary", "bad-armour"],
)
def test_bytes_that_are_not_openpgp_fail(gpg: GnuPG, data: bytes) -> None:
    result = gpg.decrypt(data)

    assert result.encryption is Encryption.FAILED
    assert result.plaintext == b""
    assert result.detail


def test_signed_but_not_encrypted_message_is_reported_as_not_encrypted(
    gpg: GnuPG, reporter: Identity
) -> None:
    result = gpg.decrypt(reporter.sign(REPORT))

    assert result.encryption is Encryption.NONE
    assert result.plaintext == REPORT
    assert result.verification.signature is Signature.VALID
    assert result.verification.fingerprint == reporter.fingerprint


@pytest.mark.parametrize("armor", [True, False], ids=["armoured", "binary"])
@pytest.mark.parametrize(
    "payload",
    [
        "件名: 脆弱性\r\n\r\n本文の最後に改行なし".encode(),
        "末尾の空白と改行   \n\n".encode(),
        b"\x00\xff\xfe not UTF-8 \x80\r\n\x1b[0m",
        b"",
    ],
    ids=["japanese-crlf", "trailing-space", "not-utf8", "empty"],
)
def test_payload_round_trips_byte_exactly(
    gpg: GnuPG, team: Identity, reporter: Identity, payload: bytes, armor: bool
) -> None:
    result = gpg.decrypt(reporter.encrypt(payload, team, armor=armor))

    assert result.encryption is Encryption.DECRYPTED
    assert result.plaintext == payload


def test_plaintext_over_the_limit_is_refused(team: Identity, reporter: Identity) -> None:
    small = GnuPG(team.home, max_plaintext=1000)
    bomb = reporter.encrypt(b"\0" * 200_000, team)  # compresses to a few hundred bytes
    noise = reporter.encrypt(secrets.token_bytes(1500), team)  # incompressible, just over

    for ciphertext in (bomb, noise):
        result = small.decrypt(ciphertext)
        assert result.encryption is Encryption.FAILED
        assert result.plaintext == b""
        assert "larger than 1000 bytes" in result.detail


def test_one_adapter_serves_concurrent_calls(
    gpg: GnuPG, team: Identity, reporter: Identity
) -> None:
    messages = {
        f"報告 {n}".encode(): reporter.encrypt(f"報告 {n}".encode(), team) for n in range(6)
    }

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = dict(zip(messages, pool.map(gpg.decrypt, messages.values()), strict=True))

    assert {plain: result.plaintext for plain, result in results.items()} == {
        m: m for m in messages
    }


# --- passphrase-protected team key -----------------------------------------------------------


def test_protected_key_decrypts_with_the_right_passphrase(
    locked: Identity, reporter: Identity
) -> None:
    ciphertext = reporter.encrypt(REPORT, locked)
    gpg_keys.kill_agent(locked.home)  # forget what key generation may have cached
    adapter = GnuPG(locked.home, passphrase=PASSPHRASE)

    result = within(30, lambda: adapter.decrypt(ciphertext))

    assert result.encryption is Encryption.DECRYPTED
    assert result.plaintext == REPORT


@pytest.mark.parametrize(
    ("passphrase", "reason"),
    [("wrong", "bad passphrase"), (None, "no passphrase was accepted")],
    ids=["wrong", "none"],
)
def test_protected_key_fails_without_the_passphrase_and_never_prompts(
    locked: Identity, reporter: Identity, passphrase: str | None, reason: str
) -> None:
    ciphertext = reporter.encrypt(REPORT, locked)
    gpg_keys.kill_agent(locked.home)  # the agent would otherwise remember the right one
    adapter = GnuPG(locked.home, passphrase=passphrase)

    result = within(30, lambda: adapter.decrypt(ciphertext))

    assert result.encryption is Encryption.FAILED
    assert result.plaintext == b""
    assert reason in result.detail


# --- signatures ------------------------------------------------------------------------------


def test_good_detached_signature_is_valid(gpg: GnuPG, reporter: Identity) -> None:
    signed = gpg_keys.text_entity(REPORT)

    result = gpg.verify_detached(signed, reporter.sign_detached(signed))

    assert result.signature is Signature.VALID
    assert result.fingerprint == reporter.fingerprint
    assert result.signer == reporter.uid
    assert "trust: undefined" in result.detail


@pytest.mark.parametrize(
    "change",
    [lambda b: b + b" ", lambda b: b.replace(b"\r\n", b"\n"), lambda b: b[:-1]],
    ids=["appended", "line-ends", "truncated"],
)
def test_detached_signature_over_other_bytes_is_bad(
    gpg: GnuPG, reporter: Identity, change: Callable[[bytes], bytes]
) -> None:
    signed = gpg_keys.text_entity(REPORT)

    result = gpg.verify_detached(change(signed), reporter.sign_detached(signed))

    assert result.signature is Signature.BAD
    assert result.signer == reporter.uid


def test_detached_signature_by_an_unknown_key(newcomer: Identity, reporter: Identity) -> None:
    result = GnuPG(newcomer.home).verify_detached(REPORT, reporter.sign_detached(REPORT))

    assert result.signature is Signature.UNKNOWN_KEY
    assert result.fingerprint == reporter.fingerprint
    assert "not in the team's keyring" in result.detail


def test_of_several_signatures_a_valid_one_outweighs_an_unknown_key(
    gpg: GnuPG, reporter: Identity, newcomer: Identity
) -> None:
    both = newcomer.sign_detached(REPORT, armor=False) + reporter.sign_detached(REPORT, armor=False)

    result = gpg.verify_detached(REPORT, both)

    assert result.signature is Signature.VALID
    assert result.fingerprint == reporter.fingerprint


def test_of_several_signatures_a_bad_one_outweighs_a_valid_one(
    gpg: GnuPG, reporter: Identity
) -> None:
    good = reporter.sign_detached(REPORT, armor=False)
    bad = reporter.sign_detached(REPORT + b"!", armor=False)

    assert gpg.verify_detached(REPORT, good + bad).signature is Signature.BAD
    assert gpg.verify_detached(REPORT, bad + good).signature is Signature.BAD


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"garbage",
        b"-----BEGIN PGP SIGNATURE-----\n\niHUEARYIAB0WIQ==\n-----END PGP SIGNATURE-----\n",
    ],
    ids=["empty", "garbage", "damaged-armour"],
)
def test_damaged_detached_signature_is_an_error(gpg: GnuPG, signature: bytes) -> None:
    result = gpg.verify_detached(REPORT, signature)

    assert result.signature is Signature.ERROR
    assert result.detail


def test_signed_message_passed_as_a_detached_signature_is_not_valid(
    gpg: GnuPG, reporter: Identity
) -> None:
    result = gpg.verify_detached(b"other content", reporter.sign(REPORT))

    assert result.signature is Signature.ERROR
    assert "not a detached signature" in result.detail


def test_good_cleartext_signature_is_valid(gpg: GnuPG, reporter: Identity) -> None:
    result = gpg.verify_cleartext(reporter.sign_cleartext(REPORT))

    assert result.signature is Signature.VALID
    assert result.fingerprint == reporter.fingerprint
    assert result.signer == reporter.uid


def test_decrypt_of_a_cleartext_block_gives_the_text_gpg_verified(
    gpg: GnuPG, reporter: Identity
) -> None:
    text = "報告\n- a line gpg dash-escapes\n-----BEGIN PGP SIGNATURE----- (not really)\n".encode()

    result = gpg.decrypt(reporter.sign_cleartext(text))

    assert result.encryption is Encryption.NONE
    assert result.plaintext == text
    assert result.verification.signature is Signature.VALID


def test_tampered_cleartext_is_bad(gpg: GnuPG, reporter: Identity) -> None:
    block = reporter.sign_cleartext(REPORT)
    tampered = block.replace("ログイン".encode(), "管理".encode())
    assert tampered != block

    assert gpg.verify_cleartext(tampered).signature is Signature.BAD


def test_cleartext_by_an_unknown_key(newcomer: Identity, reporter: Identity) -> None:
    result = GnuPG(newcomer.home).verify_cleartext(reporter.sign_cleartext(REPORT))

    assert result.signature is Signature.UNKNOWN_KEY


def test_text_without_a_signature_is_an_error_for_verify_cleartext(gpg: GnuPG) -> None:
    result = gpg.verify_cleartext(REPORT)

    assert result.signature is Signature.ERROR
    assert "no signature found" in result.detail


def test_signature_by_a_revoked_key_is_an_error(empty_home: Path) -> None:
    with gpg_keys.identity("Revoked <revoked@example.org>") as signer:
        signature = signer.sign_detached(REPORT)
        signer.revoke()
        adapter = GnuPG(empty_home)
        adapter.import_keys(signer.public_key())

        result = adapter.verify_detached(REPORT, signature)

    assert result.signature is Signature.ERROR
    assert result.fingerprint == signer.fingerprint
    assert "revoked" in result.detail


def test_signature_by_an_expired_key_is_an_error(empty_home: Path) -> None:
    old = gpg_keys.identity("Old <old@example.org>", expire="1d", faked_time="20200101T120000")
    with old as signer:
        signature = signer.sign_detached(REPORT)
        adapter = GnuPG(empty_home)
        adapter.import_keys(signer.public_key())

        result = adapter.verify_detached(REPORT, signature)

    assert result.signature is Signature.ERROR
    assert "expired" in result.detail


# --- keys ------------------------------------------------------------------------------------


def test_import_returns_the_fingerprints(empty_home: Path, reporter: Identity) -> None:
    adapter = GnuPG(empty_home)

    assert adapter.import_keys(reporter.public_key()) == (reporter.fingerprint,)
    assert adapter.import_keys(reporter.public_key()) == (reporter.fingerprint,)  # unchanged
    assert adapter.secret_fingerprints() == ()


@pytest.mark.parametrize(
    "junk",
    [b"", b"not a key", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP"],
    ids=["empty", "text", "bad-armour"],
)
def test_import_of_junk_is_invalid_input(empty_home: Path, junk: bytes) -> None:
    with pytest.raises(InvalidInput, match="no OpenPGP public key"):
        GnuPG(empty_home).import_keys(junk)


def test_import_refuses_secret_keys(empty_home: Path, reporter: Identity) -> None:
    adapter = GnuPG(empty_home)

    with pytest.raises(InvalidInput, match="secret keys are not imported"):
        adapter.import_keys(reporter.secret_key())

    assert adapter.secret_fingerprints() == ()
    listing = gpg_keys.run_gpg(empty_home, "--with-colons", "--list-keys")
    assert reporter.fingerprint.encode() not in listing


def test_secret_fingerprints_name_the_team_key(gpg: GnuPG, team: Identity) -> None:
    assert gpg.secret_fingerprints() == (team.fingerprint,)


def test_public_key_exports_a_key_others_can_import(
    gpg: GnuPG, team: Identity, empty_home: Path
) -> None:
    spaced = " ".join(re.findall("....", team.fingerprint.lower()))

    armored = gpg.public_key(spaced)

    assert armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert "PRIVATE" not in armored
    assert GnuPG(empty_home).import_keys(armored.encode()) == (team.fingerprint,)


def test_public_key_of_an_unknown_fingerprint_is_not_found(gpg: GnuPG) -> None:
    with pytest.raises(NotFound):
        gpg.public_key("0123456789ABCDEF0123456789ABCDEF01234567")


@pytest.mark.parametrize("spec", ["security@example.org", "0x1234", "--export-secret-keys", ""])
def test_public_key_accepts_only_a_fingerprint(gpg: GnuPG, spec: str) -> None:
    with pytest.raises(InvalidInput, match="not an OpenPGP fingerprint"):
        gpg.public_key(spec)


# --- setup -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701])
def test_home_open_to_others_is_refused(empty_home: Path, mode: int) -> None:
    empty_home.chmod(mode)

    with pytest.raises(ConfigurationError, match=f"mode {mode:o}"):
        GnuPG(empty_home)


def test_missing_home_is_created_private(empty_home: Path) -> None:
    home = empty_home / "keyring"

    GnuPG(home)

    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_home_that_is_a_file_is_refused(empty_home: Path) -> None:
    path = empty_home / "file"
    path.write_bytes(b"")

    with pytest.raises(ConfigurationError, match="gpg home"):
        GnuPG(path)


def test_missing_gpg_is_refused(empty_home: Path) -> None:
    with pytest.raises(ConfigurationError, match="gpg is not installed"):
        GnuPG(empty_home, binary="gpg-that-is-not-installed")


def test_gpg_that_does_not_run_is_refused(empty_home: Path) -> None:
    fake = empty_home / "fake-gpg"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o700)

    with pytest.raises(ConfigurationError, match="cannot run"):
        GnuPG(empty_home, binary=str(fake))


def test_passphrase_with_a_line_break_is_refused(empty_home: Path) -> None:
    with pytest.raises(ConfigurationError, match="line breaks"):
        GnuPG(empty_home, passphrase="first\nsecond")


# --- the helpers other tests build mail with -------------------------------------------------


def test_pgp_mime_message_decrypts_to_the_text(
    gpg: GnuPG, team: Identity, reporter: Identity
) -> None:
    raw = gpg_keys.pgp_mime_encrypted(REPORT, sender=reporter, recipient=team)
    message = email.message_from_bytes(raw, policy=email.policy.default)

    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert message["Subject"] == gpg_keys.DEFAULT_SUBJECT
    assert message.get_content_type() == "multipart/encrypted"
    assert message.get_param("protocol") == "application/pgp-encrypted"
    control, payload = message.iter_parts()
    assert control.get_content().strip() == b"Version: 1"
    result = gpg.decrypt(payload.get_payload(decode=True))
    assert result.encryption is Encryption.DECRYPTED
    assert result.verification.signature is Signature.VALID
    inner = email.message_from_bytes(result.plaintext, policy=email.policy.default)
    assert inner.get_content_type() == "text/plain"
    assert inner.get_payload(decode=True) == REPORT


def test_inline_message_decrypts_byte_exactly(
    gpg: GnuPG, team: Identity, reporter: Identity
) -> None:
    raw = gpg_keys.inline_encrypted(REPORT, sender=reporter, recipient=team, sign=False)
    message = email.message_from_bytes(raw, policy=email.policy.default)

    body = message.get_payload(decode=True)
    assert body.startswith(b"-----BEGIN PGP MESSAGE-----")
    result = gpg.decrypt(body)
    assert result.encryption is Encryption.DECRYPTED
    assert result.plaintext == REPORT
    assert result.verification == Verification()


def test_pgp_mime_signed_message_verifies_over_the_first_part(
    gpg: GnuPG, team: Identity, reporter: Identity
) -> None:
    raw = gpg_keys.pgp_mime_signed(REPORT, sender=reporter, recipient=team)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    delimiter = b"\r\n--" + message.get_boundary().encode() + b"\r\n"

    signed = raw.split(delimiter)[1]  # exactly the bytes between the first two boundaries
    signature = list(message.iter_parts())[1].get_payload(decode=True)

    assert message.get_param("micalg") == "pgp-sha256"
    assert gpg.verify_detached(signed, signature).signature is Signature.VALID
    assert gpg.verify_detached(signed + b"\r\n", signature).signature is Signature.BAD


def test_helper_homes_leave_no_agent_running() -> None:
    with gpg_keys.identity("Short-lived <short@example.org>") as key:
        key.sign(b"starts the agent")
        home = key.home
        assert agent_running(home)

    assert not home.exists()
    assert not agent_running(home)


def agent_running(home: Path) -> bool:
    """Whether any gpg-agent process names ``home`` on its command line."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if args and args[0].endswith(b"gpg-agent") and str(home).encode() in args:
            return True
    return False


def test_helper_home_is_private_and_short() -> None:
    with gpg_keys.temporary_home() as home:
        assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
        assert len(str(home / "S.gpg-agent.extra")) < 100
