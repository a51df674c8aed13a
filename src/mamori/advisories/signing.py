"""Detached OpenPGP signatures with the team key, for the published CSAF documents (§7.1.19).

``GpgSigner`` drives the system's gpg on the team's keyring the way the intake does
(``mamori.intake.gpg``): python-gnupg in batch mode, loopback pinentry so gpg never prompts,
English status lines, and inputs handed over as files in a private temporary directory. The key
is checked when the signer is made, so a server with a wrong ``MAMORI_SIGNING_KEY`` or
``MAMORI_GNUPG_HOME`` refuses to start instead of failing at the first publication.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from mamori.errors import ConfigurationError
from mamori.intake.gpg import (
    _BAD_PASSPHRASE,
    _FINGERPRINT,
    _error_code,
    _loopback_passphrase,
    _private_directory,
    _Run,
    _staged,
    _start,
)

__all__ = ["GpgSigner"]

_ARMORED_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----"
_WORDS_LIMIT = 600  # characters of gpg's own words quoted in an error


class GpgSigner:
    """Signs with one secret key of a keyring: ``GpgSigner(home, fingerprint).sign(data)``."""

    def __init__(
        self, home: Path, fingerprint: str, passphrase: str = "", *, binary: str = "gpg"
    ) -> None:
        wanted = "".join(fingerprint.split()).upper()
        if not _FINGERPRINT.fullmatch(wanted):
            raise ConfigurationError(
                "MAMORI_SIGNING_KEY must be the full fingerprint (40 or 64 hex digits) of the "
                f"team's OpenPGP key, not {fingerprint!r}"
            )
        self._fingerprint = wanted
        self._home = _private_directory(Path(home))
        self._passphrase = _loopback_passphrase(passphrase)
        self._gpg = _start(binary, self._home)
        self._check_key()

    @property
    def fingerprint(self) -> str:
        """The primary key's fingerprint: upper case, no spaces."""
        return self._fingerprint

    def sign(self, data: bytes) -> bytes:
        """A detached, armored OpenPGP signature over exactly ``data``."""
        with _staged(data) as (path,):
            result = self._gpg.sign_file(
                io.BytesIO(),
                keyid=self._fingerprint,
                passphrase=self._passphrase,
                detach=True,
                extra_args=["--local-user", self._fingerprint, "--output", "-", path],
            )
        signature = bytes(result.data or b"")
        if not result.fingerprint or not signature.startswith(_ARMORED_SIGNATURE):
            raise self._refusal(f"signing failed: {self._reason(_Run.of(result))}", result)
        return signature

    def public_key(self) -> bytes:
        """The armored public key, as published next to provider-metadata.json (§7.1.20)."""
        armored = str(self._gpg.export_keys(self._fingerprint, armor=True))
        if not armored.strip():
            raise self._refusal("its public part cannot be exported")
        return armored.encode("ascii")

    def _check_key(self) -> None:
        secret = _find(self._gpg.list_keys(secret=True), self._fingerprint)
        if secret is None:
            public = _find(self._gpg.list_keys(), self._fingerprint)
            if public is None:
                raise self._refusal("it is not in the keyring")
            raise self._refusal(
                "the keyring holds only its public part; import the secret key there"
            )
        if secret.get("trust") in {"e", "r"}:
            state = "expired" if secret.get("trust") == "e" else "revoked"
            raise self._refusal(f"the key has {state}")
        if "S" not in str(secret.get("cap", "")):
            raise self._refusal("the key cannot sign")

    def _reason(self, run: _Run) -> str:
        codes = {_error_code(value) for key, value in run.status if key in {"ERROR", "FAILURE"}}
        if _BAD_PASSPHRASE in codes:
            return "gpg refused the passphrase (MAMORI_GPG_PASSPHRASE)"
        if "NEED_PASSPHRASE" in run.names() and self._passphrase is None:
            return "the key is protected: set MAMORI_GPG_PASSPHRASE to its passphrase"
        if "INV_SGNR" in run.names():
            return "gpg cannot use the key for signing"
        return "gpg made no signature"

    def _refusal(self, problem: str, result: Any = None) -> ConfigurationError:
        words = _Run.of(result).words[:_WORDS_LIMIT] if result is not None else ""
        return ConfigurationError(
            f"cannot sign with the OpenPGP key {self._fingerprint} in the keyring {self._home}: "
            f"{problem}. Set MAMORI_SIGNING_KEY to the fingerprint of a secret key in that "
            "keyring, or MAMORI_GNUPG_HOME to the keyring that holds this one."
            + (f"\ngpg said: {words}" if words else "")
        )


def _find(keys: Any, fingerprint: str) -> dict[str, Any] | None:
    for key in keys:
        if str(key.get("fingerprint", "")).upper() == fingerprint:
            return dict(key)
    return None
