"""The OpenPGP adapter of the intake: ``GnuPG`` implements ``mamori.core.pgp.Pgp`` with gpg.

python-gnupg runs the system's gpg on the team's keyring directory, in batch mode, without a
terminal and with loopback pinentry, so gpg never prompts: a protected team key is unlocked with
the configured passphrase or not at all. Outcomes are read from gpg's machine-readable status
lines (``--status-fd``; GnuPG's ``doc/DETAILS``), never from its exit code alone, and gpg's own
human-readable lines go into ``detail`` for the analyst. Bad input is reported, never raised; a
broken setup raises ``ConfigurationError``.

Inputs are handed to gpg as files in a private temporary directory rather than on its standard
input: gpg stops reading early on input it rejects, which would turn into a broken pipe in the
writer instead of a report. Payloads stay bytes from end to end.
"""

from __future__ import annotations

import copy
import io
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gnupg

from mamori.core.pgp import Decryption, Encryption, Pgp, Signature, Verification
from mamori.errors import ConfigurationError, InvalidInput, NotFound

MAX_PLAINTEXT = 64 * 1024 * 1024  # bytes; a compressed message can expand a thousandfold
_DETAIL_LIMIT = 4000  # characters of gpg's words kept for the analyst
_OPTIONS = (
    "--pinentry-mode",  # questions go to us, never to a pinentry or a terminal
    "loopback",
    "--display-charset",  # user ids in gpg's words as UTF-8, not \x escapes
    "utf-8",
    "--no-auto-key-retrieve",  # a signature must not make us fetch keys from the network
)
_FINGERPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_PASSPHRASE = 11  # GPG_ERR_BAD_PASSPHRASE, whichever component reports it


class GnuPG(Pgp):
    """The team's keyring, driven through gpg. Safe to share between threads."""

    def __init__(
        self,
        home: Path,
        *,
        passphrase: str | None = None,
        binary: str = "gpg",
        max_plaintext: int = MAX_PLAINTEXT,
    ) -> None:
        self._home = _private_directory(Path(home))
        self._passphrase = _loopback_passphrase(passphrase)
        self._max_plaintext = max_plaintext
        self._gpg = _start(binary, self._home)

    def decrypt(self, armored_or_binary: bytes) -> Decryption:
        sink = _Sink(self._max_plaintext)
        gpg = _with_sink(self._gpg, sink)
        limit = ["--max-output", str(2 * self._max_plaintext)]  # stops a decompression bomb
        with _staged(armored_or_binary) as (path,):
            result = gpg.decrypt_file(
                io.BytesIO(), passphrase=self._passphrase, extra_args=[*limit, path]
            )
        run = _Run.of(result)
        if sink.overflowed or "exceeded --max-output limit" in run.words:
            summary = f"the plaintext is larger than {self._max_plaintext} bytes"
            return Decryption(Encryption.FAILED, detail=_detail(summary, run.words))
        return _decryption(run, bytes(result.data))

    def verify_detached(self, signed: bytes, signature: bytes) -> Verification:
        with _staged(signature, signed) as paths:
            result = self._gpg.verify_file(io.BytesIO(), extra_args=paths)
        return _verification(_Run.of(result), expected=True)

    def verify_cleartext(self, text: bytes) -> Verification:
        with _staged(text) as paths:
            result = self._gpg.verify_file(io.BytesIO(), extra_args=paths)
        return _verification(_Run.of(result), expected=True)

    def import_keys(self, armored: bytes) -> tuple[str, ...]:
        """Import public keys (a reporter's); secret key material is refused, not imported."""
        with _staged(armored) as (path,):
            if any(key.get("type") == "sec" for key in self._gpg.scan_keys(path)):
                refused = "secret keys are not imported here; send the public key"
                raise InvalidInput(refused, field="key")
            result = self._gpg.import_keys(b"", extra_args=[path])
        fingerprints = tuple(dict.fromkeys(result.fingerprints))
        if not fingerprints:
            raise InvalidInput("no OpenPGP public key found", field="key")
        return fingerprints

    def secret_fingerprints(self) -> tuple[str, ...]:
        return tuple(key["fingerprint"] for key in self._gpg.list_keys(secret=True))

    def public_key(self, fingerprint: str) -> str:
        wanted = "".join(fingerprint.split()).upper()
        if not _FINGERPRINT.fullmatch(wanted):
            raise InvalidInput("not an OpenPGP fingerprint", field="fingerprint")
        armored = str(self._gpg.export_keys(wanted))
        if not armored.strip():
            raise NotFound(f"no key {wanted} in the team's keyring")
        return armored


# --- setup -----------------------------------------------------------------------------------


def _private_directory(home: Path) -> Path:
    """The keyring directory, created 0700 if missing; refused if others may look into it."""
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = home.stat()
    except OSError as error:
        raise ConfigurationError(f"cannot use {home} as the gpg home: {error}") from error
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"the gpg home {home} is not a directory")
    if info.st_uid != os.getuid():
        raise ConfigurationError(f"the gpg home {home} belongs to another user")
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise ConfigurationError(f"the gpg home {home} is open to others (mode {mode:o}); use 700")
    return home


def _loopback_passphrase(passphrase: str | None) -> str | None:
    """The passphrase as python-gnupg writes it (Latin-1), so that gpg receives UTF-8 bytes."""
    if not passphrase:
        return None
    if any(c in passphrase for c in "\r\n\0"):
        raise ConfigurationError("the gpg passphrase cannot contain line breaks or NUL")
    return passphrase.encode("utf-8").decode("latin-1")


def _start(binary: str, home: Path) -> Any:
    executable = shutil.which(binary)
    if executable is None:
        raise ConfigurationError(f"gpg is not installed (no {binary!r} on the PATH)")
    environment = {**os.environ, "LC_ALL": "C"}  # gpg's words in English, whatever the locale
    try:
        gpg = gnupg.GPG(
            gpgbinary=executable, gnupghome=str(home), options=list(_OPTIONS), env=environment
        )
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot run {executable}: {error}") from error
    if not gpg.version or gpg.version < (2, 1):
        raise ConfigurationError(f"{executable} is too old: GnuPG 2.1 or later is needed")
    return gpg


def _with_sink(gpg: Any, sink: _Sink) -> Any:
    """A shallow copy of the python-gnupg object whose output goes through ``sink``."""
    duplicate = copy.copy(gpg)  # on_data is per object: a copy keeps concurrent calls apart
    duplicate.on_data = sink
    return duplicate


class _Sink:
    """Counts gpg's output and stops keeping it past the limit (python-gnupg's ``on_data``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0

    def __call__(self, chunk: bytes) -> bool:
        self.size += len(chunk)
        return self.size <= self.limit

    @property
    def overflowed(self) -> bool:
        return self.size > self.limit


@contextmanager
def _staged(*blobs: bytes) -> Iterator[list[str]]:
    """Write ``blobs`` to files only this user can read; yield their paths; remove them."""
    with tempfile.TemporaryDirectory(prefix="mamori-gpg-") as directory:
        paths = []
        for number, blob in enumerate(blobs):
            path = Path(directory, f"input-{number}")
            path.write_bytes(blob)
            paths.append(str(path))
        yield paths


# --- reading gpg's report --------------------------------------------------------------------


def _text(raw: str) -> str:
    """python-gnupg decodes gpg's stderr as Latin-1; gpg wrote UTF-8."""
    return raw.encode("latin-1").decode("utf-8", "replace")


def _detail(*parts: str) -> str:
    return "\n".join(part for part in parts if part)[:_DETAIL_LIMIT]


@dataclass(frozen=True)
class _Run:
    """What one gpg run reported: its status lines, in order, and its own words."""

    status: tuple[tuple[str, str], ...]
    words: str
    returncode: int | None

    @classmethod
    def of(cls, result: Any) -> _Run:
        status, words = [], []
        for line in (result.stderr or "").splitlines():
            if line.startswith("[GNUPG:] "):
                key, _, value = line[9:].partition(" ")
                status.append((key, value))
            elif line.strip():
                words.append(line.rstrip())
        return cls(tuple(status), _text("\n".join(words)), result.returncode)

    def names(self) -> set[str]:
        return {key for key, _ in self.status}

    def first_fields(self, key: str) -> list[str]:
        return [value.split(" ", 1)[0] for name, value in self.status if name == key]


def _decryption(run: _Run, plaintext: bytes) -> Decryption:
    keys = run.names()
    if "DECRYPTION_OKAY" in keys and not keys & {"DECRYPTION_FAILED", "BADMDC"}:
        verification = _verification(run, expected=False)
        return Decryption(Encryption.DECRYPTED, plaintext, verification, _detail(run.words))
    recipients = list(dict.fromkeys(run.first_fields("ENC_TO")))
    if recipients and set(recipients) <= set(run.first_fields("NO_SECKEY")):
        summary = "encrypted to key id(s) the team does not hold: " + ", ".join(recipients)
        return Decryption(Encryption.NO_KEY, detail=_detail(summary, run.words))
    encrypted = keys & {"ENC_TO", "BEGIN_DECRYPTION", "NEED_PASSPHRASE_SYM", "DECRYPTION_FAILED"}
    signatures = _signatures(run)
    if not encrypted and "PLAINTEXT" in keys and (signatures or run.returncode == 0):
        verification = _verification(run, expected=False)  # signed or literal data, not encrypted
        return Decryption(Encryption.NONE, plaintext, verification, _detail(run.words))
    return Decryption(Encryption.FAILED, detail=_detail(_failure(run), run.words))


def _error_code(value: str) -> int:
    """The error code of an ``ERROR <location> <code>`` status, without its source."""
    code = value.rsplit(" ", 1)[-1]
    return int(code) & 0xFFFF if code.isdigit() else -1


def _failure(run: _Run) -> str:
    if any(_error_code(value) == _BAD_PASSPHRASE for key, value in run.status if key == "ERROR"):
        return "decryption failed: bad passphrase for the team key"
    if "BADMDC" in run.names():
        return "decryption failed: the message was modified on the way (integrity check failed)"
    if "NEED_PASSPHRASE" in run.names() and "DECRYPTION_KEY" not in run.names():
        return "decryption failed: the team key is locked and no passphrase was accepted"
    if "NODATA" in run.names():
        return "decryption failed: no OpenPGP data found"
    return "decryption failed"


@dataclass
class _Signature:
    """One signature as gpg reported it (between two NEWSIG lines)."""

    outcome: Signature = Signature.ERROR
    note: str = "the signature could not be checked"
    key_id: str = ""
    fingerprint: str = ""
    signer: str = ""
    trust: str = ""

    def verification(self, words: str) -> Verification:
        summary = self.note
        if self.trust:
            summary += f"; trust: {self.trust}"
        if self.key_id:
            summary += f" (key id {self.key_id})"
        return Verification(self.outcome, self.fingerprint, self.signer, _detail(summary, words))


_VERDICTS = {
    "GOODSIG": (Signature.VALID, "good signature from a key in the team's keyring"),
    "BADSIG": (Signature.BAD, "BAD signature: the content does not match it"),
    "EXPSIG": (Signature.ERROR, "the signature has expired"),
    "EXPKEYSIG": (Signature.ERROR, "the signing key has expired"),
    "REVKEYSIG": (Signature.ERROR, "the signing key has been revoked"),
}


def _signatures(run: _Run) -> list[_Signature]:
    found: list[_Signature] = []
    for key, value in run.status:
        if key == "NEWSIG" or (not found and key in {*_VERDICTS, "ERRSIG", "VALIDSIG"}):
            found.append(_Signature())
        if found:
            _read_signature_status(found[-1], key, value)
    return found


def _read_signature_status(signature: _Signature, key: str, value: str) -> None:
    fields = value.split(" ")
    if key in _VERDICTS:
        signature.outcome, signature.note = _VERDICTS[key]
        signature.key_id = fields[0]
        signature.signer = _text(_ESCAPE.sub(lambda m: chr(int(m[1], 16)), value.partition(" ")[2]))
    elif key == "VALIDSIG":
        signature.fingerprint = fields[9] if len(fields) > 9 else fields[0]  # the primary key
    elif key == "ERRSIG":
        signature.key_id = fields[0]
        signature.fingerprint = fields[6] if len(fields) > 6 else ""
        if len(fields) > 5 and fields[5] == "9":
            signature.outcome = Signature.UNKNOWN_KEY
            signature.note = "the signing key is not in the team's keyring"
        elif len(fields) > 5:
            signature.note = f"the signature could not be checked (gpg error {fields[5]})"
    elif key.startswith("TRUST_"):
        signature.trust = key.removeprefix("TRUST_").lower()


def _verification(run: _Run, *, expected: bool) -> Verification:
    """One verdict for all signatures: any BAD wins, then any VALID, else the first one."""
    signatures = _signatures(run)
    if not signatures:
        if not expected:
            return Verification()
        return Verification(Signature.ERROR, detail=_detail("no signature found", run.words))
    for wanted in (Signature.BAD, Signature.VALID):
        for signature in signatures:
            if signature.outcome is wanted:
                return signature.verification(run.words)
    return signatures[0].verification(run.words)
