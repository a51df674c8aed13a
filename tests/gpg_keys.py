"""Real OpenPGP keys for tests: temporary gpg homes, quick keys, and mail built around them.

Keys are made once per module (ed25519 for signing, cv25519 for encryption: a few milliseconds)::

    from tests import gpg_keys

    @pytest.fixture(scope="module")
    def team() -> Iterator[gpg_keys.Identity]:
        with gpg_keys.identity("Mamori PSIRT <security@example.org>") as key:
            yield key

    @pytest.fixture(scope="module")
    def reporter() -> Iterator[gpg_keys.Identity]:
        with gpg_keys.identity("山田 太郎 <taro@example.jp>") as key:
            yield key

    def test_report(team, reporter):
        pgp = mamori.intake.gpg.GnuPG(team.home)  # the team's keyring, as the intake sees it
        pgp.import_keys(reporter.public_key())  # without this, signatures are UNKNOWN_KEY
        raw = gpg_keys.pgp_mime_encrypted("脆弱性の報告".encode(), sender=reporter, recipient=team)
        ...  # send ``raw`` by SMTP; the intake decrypts it with ``pgp``

Every home is a fresh directory under /tmp (gpg-agent's socket path must stay under ~100
characters) with mode 0700; leaving the context kills its gpg-agent and removes it. The helpers
trust every key they encrypt to (``--trust-model always``) and never touch the network; the
adapter under test does neither of the first and must cope with untrusted reporter keys.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path

GPG = shutil.which("gpg") or "/usr/bin/gpg"
TIMEOUT = 60  # seconds; a gpg that waits for input fails the test instead of hanging it
DEFAULT_SUBJECT = "脆弱性の報告"  # a Japanese subject by default: encoded headers get exercised


class GpgFailed(AssertionError):
    """A helper's gpg run failed: the test setup is broken, not the code under test."""


@contextmanager
def temporary_home() -> Iterator[Path]:
    """An empty gpg home (0700, short path under /tmp), removed with its agent afterwards."""
    home = Path(tempfile.mkdtemp(prefix="mg-", dir="/tmp"))
    # The agent would calibrate passphrase hashing to ~100 ms per use: too slow for tests.
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
    try:
        yield home
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def kill_agent(home: Path) -> None:
    """Stop the gpg-agent (and any other daemon) of ``home``; it forgets cached passphrases."""
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "all"],
        capture_output=True,
        check=False,
        timeout=TIMEOUT,
    )


def run_gpg(
    home: Path,
    *args: str,
    input: bytes = b"",
    passphrase: str | None = None,
    faked_time: str | None = None,
) -> bytes:
    """Run gpg in ``home`` without any prompt; return its output or raise ``GpgFailed``."""
    command = [GPG, "--homedir", str(home), "--batch", "--no-tty", "--pinentry-mode", "loopback"]
    command += ["--no-auto-key-retrieve", "--auto-key-locate", "local"]
    if passphrase is not None:
        command += ["--passphrase", passphrase]
    if faked_time is not None:
        command += ["--faked-system-time", faked_time]
    done = subprocess.run(
        [*command, *args], input=input, capture_output=True, check=False, timeout=TIMEOUT
    )
    if done.returncode != 0:
        raise GpgFailed(f"gpg {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


@dataclass(frozen=True)
class Identity:
    """A key pair living in its own gpg home, and what its owner can do with it."""

    home: Path
    uid: str
    fingerprint: str  # of the primary (signing) key
    encryption_key_id: str  # long key id of the cv25519 subkey, as gpg names it in ENC_TO
    passphrase: str | None = None
    faked_time: str | None = None  # every operation runs at this time (for expired keys)

    @property
    def name(self) -> str:
        return parseaddr(self.uid)[0]

    @property
    def email(self) -> str:
        return parseaddr(self.uid)[1]

    def gpg(self, *args: str, input: bytes = b"") -> bytes:
        return run_gpg(
            self.home, *args, input=input, passphrase=self.passphrase, faked_time=self.faked_time
        )

    def public_key(self) -> bytes:
        """The armoured public key."""
        return self.gpg("--armor", "--export", self.fingerprint)

    def secret_key(self) -> bytes:
        """The armoured secret key (for tests that check secret keys are refused)."""
        return self.gpg("--armor", "--export-secret-keys", self.fingerprint)

    def import_keys(self, data: bytes) -> None:
        self.gpg("--import", input=data)

    def learn(self, other: Identity) -> None:
        """Import ``other``'s public key into this home (again: it may have been revoked since)."""
        self.import_keys(other.public_key())

    def encrypt(
        self, plaintext: bytes, *recipients: Identity, sign: bool = True, armor: bool = True
    ) -> bytes:
        """Encrypt to ``recipients`` (their public keys are imported first), signed by default."""
        args = ["--trust-model", "always", "--encrypt"]
        for recipient in recipients:
            if recipient.home != self.home:
                self.learn(recipient)
            args += ["--recipient", recipient.fingerprint]
        if sign:
            args += ["--sign", "--local-user", self.fingerprint]
        return self.gpg(*args, *(["--armor"] if armor else []), input=plaintext)

    def sign(self, data: bytes, *, armor: bool = True) -> bytes:
        """An opaque signed (not encrypted) OpenPGP message."""
        args = ["--local-user", self.fingerprint, "--sign", *(["--armor"] if armor else [])]
        return self.gpg(*args, input=data)

    def sign_detached(self, data: bytes, *, armor: bool = True, digest: str = "SHA256") -> bytes:
        """A detached signature over exactly ``data``."""
        args = ["--local-user", self.fingerprint, "--digest-algo", digest, "--detach-sign"]
        return self.gpg(*args, *(["--armor"] if armor else []), input=data)

    def sign_cleartext(self, text: bytes) -> bytes:
        """A ``-----BEGIN PGP SIGNED MESSAGE-----`` block around ``text``."""
        return self.gpg("--local-user", self.fingerprint, "--clearsign", input=text)

    def revoke(self) -> None:
        """Revoke the key in its own home with the certificate gpg made at generation."""
        certificate = self.home / "openpgp-revocs.d" / f"{self.fingerprint}.rev"
        text = certificate.read_bytes().replace(b"\n:-----BEGIN", b"\n-----BEGIN")
        self.import_keys(text)


def _parameters(uid: str, passphrase: str | None, expire: str) -> bytes:
    name, address = parseaddr(uid)
    lines = [
        "Key-Type: EDDSA",
        "Key-Curve: ed25519",
        "Key-Usage: sign",
        "Subkey-Type: ECDH",
        "Subkey-Curve: cv25519",
        "Subkey-Usage: encrypt",
        f"Name-Real: {name or uid}",
        *([f"Name-Email: {address}"] if address else []),
        f"Expire-Date: {expire}",
        f"Passphrase: {passphrase}" if passphrase else "%no-protection",
        "%commit",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _fingerprints(home: Path) -> tuple[str, str]:
    """The primary key's fingerprint and the encryption subkey's long key id."""
    listing = run_gpg(home, "--with-colons", "--list-secret-keys").decode("utf-8")
    kind, primary, subkey = "", "", ""
    for fields in (line.split(":") for line in listing.splitlines()):
        if fields[0] in ("sec", "ssb"):
            kind = fields[0]
        elif fields[0] == "fpr" and kind == "sec" and not primary:
            primary = fields[9]
        elif fields[0] == "fpr" and kind == "ssb" and not subkey:
            subkey = fields[9]
    return primary, subkey[-16:]


@contextmanager
def identity(
    uid: str,
    *,
    passphrase: str | None = None,
    expire: str = "0",
    faked_time: str | None = None,
) -> Iterator[Identity]:
    """A new key pair in a new home, e.g. ``identity("山田 太郎 <taro@example.jp>")``.

    ``passphrase`` protects the secret key; ``expire`` is gpg's Expire-Date ("0": never, "1d").
    ``faked_time`` (gpg's --faked-system-time, e.g. "20200101T120000") makes and uses the key
    at that time: with ``expire="1d"`` it gives signatures from a key that has expired since.
    """
    with temporary_home() as home:
        run_gpg(
            home,
            "--gen-key",
            input=_parameters(uid, passphrase, expire),
            passphrase=passphrase,
            faked_time=faked_time,
        )
        fingerprint, encryption_key_id = _fingerprints(home)
        yield Identity(home, uid, fingerprint, encryption_key_id, passphrase, faked_time)


# --- mail ------------------------------------------------------------------------------------


def text_entity(body: bytes, *, content_type: str = "text/plain; charset=utf-8") -> bytes:
    """A MIME entity (headers, blank line, base64 body; CRLF line ends) carrying ``body``."""
    encoded = base64.encodebytes(body).replace(b"\n", b"\r\n")
    head = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    return head.encode("ascii") + encoded


def _message(
    body: bytes,
    content_type: str,
    *,
    sender: Identity,
    recipient: Identity,
    subject: str,
    headers: Mapping[str, str] | None,
) -> bytes:
    fields = {
        "From": formataddr((sender.name, sender.email), charset="utf-8"),
        "To": formataddr((recipient.name, recipient.email), charset="utf-8"),
        "Subject": Header(subject, "utf-8").encode(linesep="\r\n"),
        "Date": formatdate(usegmt=True),
        "Message-ID": make_msgid(domain=sender.email.rpartition("@")[2] or "example.org"),
        "MIME-Version": "1.0",
        "Content-Type": content_type,
        **(headers or {}),
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return head.encode("ascii") + b"\r\n" + body


def _multipart(boundary: str, preamble: str, parts: list[bytes]) -> bytes:
    delimiter = f"--{boundary}".encode("ascii")
    body = preamble.encode("ascii") + b"\r\n"
    for part in parts:
        body += delimiter + b"\r\n" + part + b"\r\n"
    return body + delimiter + b"--\r\n"


def multipart_encrypted(
    ciphertext: bytes,
    *,
    sender: Identity,
    recipient: Identity,
    subject: str = DEFAULT_SUBJECT,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """An RFC 3156 multipart/encrypted message around an armoured OpenPGP message."""
    boundary = f"=_mamori_{secrets.token_hex(8)}"
    control = b"Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
    payload = (
        b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n'
        b'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n'
        + ciphertext.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    )
    preamble = "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)"
    content_type = (
        f'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="{boundary}"'
    )
    body = _multipart(boundary, preamble, [control, payload])
    return _message(
        body, content_type, sender=sender, recipient=recipient, subject=subject, headers=headers
    )


def pgp_mime_encrypted(
    plaintext: bytes,
    *,
    sender: Identity,
    recipient: Identity,
    sign: bool = True,
    subject: str = DEFAULT_SUBJECT,
    content_type: str = "text/plain; charset=utf-8",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """A PGP/MIME mail from ``sender`` to ``recipient`` whose encrypted part is ``plaintext``.

    The plaintext becomes a base64 ``text_entity`` (so the decrypted bytes are that entity),
    encrypted to ``recipient`` and, by default, signed by ``sender`` inside the encryption.
    """
    entity = text_entity(plaintext, content_type=content_type)
    ciphertext = sender.encrypt(entity, recipient, sign=sign)
    return multipart_encrypted(
        ciphertext, sender=sender, recipient=recipient, subject=subject, headers=headers
    )


def inline_encrypted(
    plaintext: bytes,
    *,
    sender: Identity,
    recipient: Identity,
    sign: bool = True,
    subject: str = DEFAULT_SUBJECT,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """A text/plain mail whose body is the armoured OpenPGP message of ``plaintext``."""
    armored = sender.encrypt(plaintext, recipient, sign=sign)
    body = armored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    content_type = "text/plain; charset=us-ascii"
    return _message(
        body, content_type, sender=sender, recipient=recipient, subject=subject, headers=headers
    )


def pgp_mime_signed(
    plaintext: bytes,
    *,
    sender: Identity,
    recipient: Identity,
    subject: str = DEFAULT_SUBJECT,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """An RFC 3156 multipart/signed mail: ``text_entity(plaintext)`` and its signature.

    The signature covers exactly the first part's bytes as they stand between the boundary
    lines (the CRLF before the next boundary belongs to the boundary).
    """
    entity = text_entity(plaintext)
    signature = sender.sign_detached(entity, digest="SHA256")
    boundary = f"=_mamori_{secrets.token_hex(8)}"
    signature_part = (
        b'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
        + signature.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    )
    preamble = "This is an OpenPGP/MIME signed message (RFC 4880 and 3156)"
    content_type = (
        'multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; '
        f'boundary="{boundary}"'
    )
    body = _multipart(boundary, preamble, [entity, signature_part])
    return _message(
        body, content_type, sender=sender, recipient=recipient, subject=subject, headers=headers
    )
