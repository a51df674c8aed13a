"""OpenPGP as the intake sees it: the outcomes it records and the interface of the gpg adapter.

The mail parser (``mamori.core.mail``) finds encrypted and signed parts (inline armour and
PGP/MIME, RFC 3156) and hands their bytes to a ``Pgp`` implementation; the real one is
``mamori.intake.gpg.GnuPG`` (python-gnupg driving the system's gpg). Nothing here runs gpg.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Encryption(StrEnum):
    """What happened to the encryption of a message."""

    NONE = "none"  # not encrypted
    DECRYPTED = "decrypted"
    NO_KEY = "no_key"  # encrypted to a key we do not hold: kept raw, flagged for an analyst
    FAILED = "failed"  # damaged, or gpg failed for another reason

    @property
    def needs_analyst(self) -> bool:
        return self in (Encryption.NO_KEY, Encryption.FAILED)


class Signature(StrEnum):
    """What the verification of a signature found."""

    NONE = "none"  # not signed
    VALID = "valid"  # good signature from a key in the team's keyring
    BAD = "bad"  # the signature does not match the content
    UNKNOWN_KEY = "unknown_key"  # signed, but the key is not in the team's keyring
    ERROR = "error"  # could not be checked (damaged signature, expired or revoked key, ...)


@dataclass(frozen=True)
class Verification:
    signature: Signature = Signature.NONE
    fingerprint: str = ""  # the signing key's fingerprint, when gpg told it
    signer: str = ""  # the signing key's user id, when known
    detail: str = ""  # gpg's own words, for the analyst


@dataclass(frozen=True)
class Decryption:
    encryption: Encryption
    plaintext: bytes = b""
    verification: Verification = Verification()
    detail: str = ""  # gpg's own words, for the analyst


class Pgp(Protocol):
    """The operations the parser needs. Implementations never raise for bad input: they report."""

    def decrypt(self, armored_or_binary: bytes) -> Decryption:
        """Decrypt an OpenPGP message (and verify a signature inside it, if any)."""
        ...

    def verify_detached(self, signed: bytes, signature: bytes) -> Verification:
        """Verify a detached signature (PGP/MIME multipart/signed) over exactly ``signed``."""
        ...

    def verify_cleartext(self, text: bytes) -> Verification:
        """Verify an inline cleartext-signed block (``-----BEGIN PGP SIGNED MESSAGE-----``)."""
        ...
