"""Keys and the offline half of the root-key ceremony (docs/updates.md §2).

Nothing here needs the repository, the server or a network: :func:`generate_key` and
:func:`sign_root_draft` are what a root key holder runs on an offline machine, and the repository
(:mod:`mamori.core.tufrepo`) uses the same helpers for its online keys. Signing is
securesystemslib's ``CryptoSigner`` (ed25519), metadata python-tuf's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner, Key, SSlibKey
from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp
from tuf.api.serialization import DeserializationError
from tuf.api.serialization.json import JSONSerializer

from mamori.core import files
from mamori.errors import ConfigurationError, Conflict, InvalidInput

ROOT = Root.type
SERIALIZER = JSONSerializer(compact=True)
_S = TypeVar("_S", Root, Timestamp, Snapshot, Targets)


def generate_key(
    private_pem: Path, *, passphrase: str | bytes | None = None, public_pem: Path | None = None
) -> Key:
    """Generate an ed25519 key pair for a root key holder; return the public key.

    Writes the private key as PKCS#8 PEM (mode 0600, encrypted when a passphrase is given) and
    the public key as PEM to ``public_pem`` (default: ``<name>.pub.pem`` next to it). Meant for
    the offline machine: the public file is what the repository's operator needs.
    """
    if private_pem.exists():
        raise Conflict(f"{private_pem} exists; refusing to overwrite a key")
    private = new_private_key(private_pem, passphrase)
    public_pem = public_pem or private_pem.with_name(private_pem.stem + ".pub.pem")
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_file(public_pem, pem)
    return CryptoSigner(private).public_key


def load_public_key(path: Path) -> Key:
    """Read a public key (PEM, SubjectPublicKeyInfo), e.g. a root key holder's ``.pub.pem``."""
    try:
        public = serialization.load_pem_public_key(path.read_bytes())
        return SSlibKey.from_crypto(public)
    except OSError as e:
        raise ConfigurationError(f"cannot read the public key {path}: {e.strerror}") from e
    except ValueError as e:
        raise ConfigurationError(f"{path} is not a usable PEM public key: {e}") from e


def load_signer(path: Path, passphrase: str | bytes | None = None) -> CryptoSigner:
    """Open a private key (PKCS#8 PEM, possibly encrypted) for signing."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read the private key {path}: {e.strerror}") from e
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        return CryptoSigner(serialization.load_pem_private_key(data, password=password))
    except TypeError as e:  # encrypted without a passphrase, or a passphrase for a clear key
        raise ConfigurationError(f"cannot open {path}: {e}") from e
    except ValueError as e:
        raise ConfigurationError(
            f"cannot open {path}: wrong passphrase, or not a usable private key"
        ) from e


def sign_root_draft(
    draft: Path,
    key_pem: Path,
    *,
    passphrase: str | bytes | None = None,
    previous: Path | None = None,
) -> str:
    """The offline step of the ceremony: add one root key's signature to a draft, in place.

    Needs no repository and no network. The key must be a root key of the draft or, when the
    draft rotates root keys, of the ``previous`` root version (pass that file, e.g.
    ``metadata/3.root.json`` for a draft of v4). Returns the signing key's id.
    """
    md = parse_metadata(read_input(draft), Root, str(draft))
    signer = load_signer(key_pem, passphrase)
    allowed = set(md.signed.roles[ROOT].keyids)
    if previous is not None:
        before = parse_metadata(read_input(previous), Root, str(previous)).signed
        if before.version != md.signed.version - 1:
            raise InvalidInput(
                f"{previous} is root v{before.version}, not v{md.signed.version - 1}",
                field="previous",
            )
        allowed |= set(before.roles[ROOT].keyids)
    keyid = signer.public_key.keyid
    if keyid not in allowed:
        hint = "" if previous else " (to sign with an outgoing key, pass the previous root)"
        raise InvalidInput(f"key {keyid[:16]} is not a root key of this draft{hint}", field="key")
    md.sign(signer, append=True)
    write_file(draft, md.to_bytes(SERIALIZER))
    return keyid


def new_key(path: Path) -> CryptoSigner:
    """Generate an online ed25519 key into ``path``; return its signer."""
    return CryptoSigner(new_private_key(path, None))


def new_private_key(path: Path, passphrase: str | bytes | None) -> Ed25519PrivateKey:
    """Generate an ed25519 key; write it as PKCS#8 PEM, mode 0600."""
    private = Ed25519PrivateKey.generate()
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    write_file(path, pem, 0o600)
    return private


def keyid_of(path: Path) -> str:
    return load_signer(path).public_key.keyid


def parse_metadata(data: bytes, kind: type[_S], what: str) -> Metadata[_S]:
    try:
        md: Metadata[Any] = Metadata.from_bytes(data)
    except DeserializationError as e:
        raise InvalidInput(f"{what} is not TUF metadata: {e}", field="metadata") from e
    if not isinstance(md.signed, kind):
        raise InvalidInput(f"{what} holds {md.signed.type}, not {kind.type}", field="metadata")
    return cast("Metadata[_S]", md)


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}", field="file") from e


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(path, data, mode=mode)
