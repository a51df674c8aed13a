"""The TUF repository writer, checked on disk with python-tuf's own verification.

``verify_published`` walks the published state as a client would (root chain, then timestamp,
snapshot, targets, every bin: signatures, thresholds, hashes, lengths, versions, expiry) and is
called after each change. End-to-end tests over HTTP with the real client are in
tests/agent/test_tuf_client.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root, Snapshot, TargetFile, Targets, Timestamp

from mamori.core.tufkeys import generate_key, load_public_key, load_signer, sign_root_draft
from mamori.core.tufrepo import Expiries, TufRepository
from mamori.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    VerificationFailed,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PORTAL = "bundles/portal/portal-2.1.1.mbundle"


@dataclass
class Clock:
    """The repository's clock, moved by hand."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(tmp_path: Path, clock: Clock) -> TufRepository:
    return TufRepository.init(tmp_path / "repo", tmp_path / "keys", dev=True, clock=clock)


@pytest.fixture
def offline(tmp_path: Path) -> Path:
    """The offline machine: a root key encrypted with a passphrase, and its public half."""
    machine = tmp_path / "offline"
    machine.mkdir()
    generate_key(machine / "root-a.pem", passphrase="correct horse")
    return machine


def verify_published(repo: TufRepository, now: datetime = NOW) -> dict[str, Targets]:
    """Verify everything published, as a client would; return the bins by name."""
    meta = repo.metadata_dir
    root: Root | None = None
    versions = sorted(int(path.name.split(".")[0]) for path in meta.glob("*.root.json"))
    assert versions == list(range(1, len(versions) + 1))
    for version in versions:
        md = Metadata[Root].from_file(str(meta / f"{version}.root.json"))
        assert md.signed.get_root_verification_result(root, md.signed_bytes, md.signatures)
        root = md.signed
    assert root is not None and root.consistent_snapshot
    timestamp = Metadata[Timestamp].from_bytes((meta / "timestamp.json").read_bytes())
    root.verify_delegate("timestamp", timestamp.signed_bytes, timestamp.signatures)
    info = timestamp.signed.snapshot_meta
    data = (meta / f"{info.version}.snapshot.json").read_bytes()
    info.verify_length_and_hashes(data)
    snapshot = Metadata[Snapshot].from_bytes(data)
    root.verify_delegate("snapshot", snapshot.signed_bytes, snapshot.signatures)
    assert snapshot.signed.version == info.version
    delegated: dict[str, Targets] = {}
    for filename, info in sorted(
        snapshot.signed.meta.items(), key=lambda i: i[0] != "targets.json"
    ):
        name = filename.removesuffix(".json")
        data = (meta / f"{info.version}.{filename}").read_bytes()
        info.verify_length_and_hashes(data)
        md = Metadata[Targets].from_bytes(data)
        assert md.signed.version == info.version
        delegator = root if name == "targets" else delegated["targets"]
        delegator.verify_delegate(name, md.signed_bytes, md.signatures)
        delegated[name] = md.signed
        if name == "targets":
            assert md.signed.targets == {}  # every target lives in a bin
    for signed in [timestamp.signed, snapshot.signed, root, *delegated.values()]:
        assert not signed.is_expired(now)
    return {name: signed for name, signed in delegated.items() if name != "targets"}


def versions(repo: TufRepository) -> dict[str, int]:
    """The current version of every role but root."""
    timestamp = json.loads((repo.metadata_dir / "timestamp.json").read_bytes())["signed"]
    snapshot_version = timestamp["meta"]["snapshot.json"]["version"]
    path = repo.metadata_dir / f"{snapshot_version}.snapshot.json"
    snapshot = json.loads(path.read_bytes())["signed"]
    found = {name.removesuffix(".json"): info["version"] for name, info in snapshot["meta"].items()}
    return found | {"snapshot": snapshot_version, "timestamp": timestamp["version"]}


def expires(repo: TufRepository, name: str) -> datetime:
    if name == "timestamp":
        path = repo.metadata_dir / "timestamp.json"
    elif name == "root":
        path = repo.metadata_dir / f"{repo.root_version()}.root.json"
    else:
        path = repo.metadata_dir / f"{versions(repo)[name]}.{name}.json"
    return Metadata.from_bytes(path.read_bytes()).signed.expires


def incoming(tmp_path: Path, content: bytes, name: str = "portal-2.1.1.mbundle") -> Path:
    path = tmp_path / "incoming" / hashlib.sha256(content).hexdigest()[:8] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# --- creation and layout ------------------------------------------------------------------------


def test_init_writes_a_complete_signed_repository(repo: TufRepository) -> None:
    bins = verify_published(repo)

    names = sorted(path.name for path in repo.metadata_dir.iterdir())
    assert names[:2] == ["1.bins-00.json", "1.bins-01.json"]
    assert set(names) >= {"1.root.json", "1.targets.json", "1.snapshot.json", "timestamp.json"}
    assert len(bins) == 256 and "bins-ff" in bins
    assert len(names) == 256 + 4
    for path in repo.metadata_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(repo.keys_dir.stat().st_mode) == 0o700
    for role in ("root", "targets", "bins", "snapshot", "timestamp"):
        assert stat.S_IMODE((repo.keys_dir / f"{role}.pem").stat().st_mode) == 0o600
    assert repo.root_version() == 1
    assert repo.pending_root_draft() is None


def test_each_role_gets_its_default_lifetime(repo: TufRepository) -> None:
    assert expires(repo, "root") == NOW + timedelta(days=365)
    assert expires(repo, "targets") == NOW + timedelta(days=365)
    assert expires(repo, "bins-7f") == NOW + timedelta(days=90)
    assert expires(repo, "snapshot") == NOW + timedelta(days=7)
    assert expires(repo, "timestamp") == NOW + timedelta(days=1)


def test_lifetimes_and_bins_are_configurable(tmp_path: Path, clock: Clock) -> None:
    repo = TufRepository.init(
        tmp_path / "repo",
        tmp_path / "keys",
        dev=True,
        bit_length=4,
        expiries=Expiries(timestamp=timedelta(hours=6), bins=timedelta(days=30)),
        clock=clock,
    )

    assert sorted(verify_published(repo)) == [f"bins-{n:x}" for n in range(16)]
    assert expires(repo, "timestamp") == NOW + timedelta(hours=6)
    assert expires(repo, "bins-a") == NOW + timedelta(days=30)
    with pytest.raises(InvalidInput, match="root_margin"):
        Expiries(root=timedelta(days=10))
    with pytest.raises(InvalidInput, match="positive"):
        Expiries(snapshot=timedelta(0))


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "offline root public keys"),
        ({"dev": True, "root_keys": ["a key"]}, "generates its own"),
        ({"dev": True, "root_threshold": 2}, "between 1"),
        ({"dev": True, "bit_length": 0}, "between 1 and 16"),
        ({"dev": True, "bit_length": 17}, "between 1 and 16"),
    ],
)
def test_init_refuses_bad_arguments(tmp_path: Path, kwargs: dict, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        TufRepository.init(tmp_path / "repo", tmp_path / "keys", **kwargs)
    assert not (tmp_path / "keys").exists()


def test_init_refuses_an_existing_repository(repo: TufRepository, tmp_path: Path) -> None:
    with pytest.raises(Conflict, match="not empty"):
        TufRepository.init(repo.path, tmp_path / "other-keys", dev=True)
    with pytest.raises(Conflict, match="refusing to overwrite"):
        TufRepository.init(tmp_path / "other", repo.keys_dir, dev=True)


def test_a_directory_without_a_repository_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        TufRepository(tmp_path / "nothing", tmp_path / "keys").list_targets()


# --- targets ------------------------------------------------------------------------------------


def test_targets_are_stored_by_hash_and_listed_in_their_bin_only(
    repo: TufRepository, tmp_path: Path
) -> None:
    content = b"portal 2.1.1" * 100
    before = versions(repo)

    [info] = repo.add_targets(
        {PORTAL: incoming(tmp_path, content)}, {PORTAL: {"product": "portal", "size": 3}}
    )

    digest = hashlib.sha256(content).hexdigest()
    stored = repo.targets_dir / "bundles" / "portal" / f"{digest}.portal-2.1.1.mbundle"
    assert repo.target_file(info) == stored
    assert stored.read_bytes() == content
    assert stat.S_IMODE(stored.stat().st_mode) == 0o644
    assert info.length == len(content) and info.hashes == {"sha256": digest}
    bins = verify_published(repo)
    name = repo.bin_for(PORTAL)
    assert bins[name].targets[PORTAL].custom == {"product": "portal", "size": 3}
    after = versions(repo)
    changed = {role for role in after if after[role] != before[role]}
    assert changed == {name, "snapshot", "timestamp"}  # not targets, not the other 255 bins
    assert repo.get_target(PORTAL) == info
    assert repo.list_targets() == [info]


def test_many_targets_touch_only_their_bins(repo: TufRepository) -> None:
    infos = [
        TargetFile(n + 1, {"sha256": hashlib.sha256(b"%d" % n).hexdigest()}, f"fleet/{n}.bin")
        for n in range(2000)
    ]
    assert len(repo.add_target_infos(infos)) == 256
    before = versions(repo)

    touched = repo.add_target_infos([TargetFile(7, infos[0].hashes, "fleet/new.bin")])

    after = versions(repo)
    assert touched == [repo.bin_for("fleet/new.bin")]
    assert {role for role in after if after[role] != before[role]} == {
        touched[0],
        "snapshot",
        "timestamp",
    }
    assert len(repo.list_targets()) == 2001
    verify_published(repo)


def test_republishing_a_path_with_other_content_needs_replace(
    repo: TufRepository, tmp_path: Path
) -> None:
    repo.add_targets({PORTAL: incoming(tmp_path, b"first")})
    before = versions(repo)

    assert repo.add_target_infos([repo.get_target(PORTAL)]) == []  # the same again: nothing
    assert versions(repo) == before
    with pytest.raises(Conflict, match="already published"):
        repo.add_targets({PORTAL: incoming(tmp_path, b"second")})
    assert versions(repo) == before
    [info] = repo.add_targets({PORTAL: incoming(tmp_path, b"second")}, replace=True)
    assert repo.get_target(PORTAL) == info
    verify_published(repo)


@pytest.mark.parametrize(
    ("path", "custom", "problem"),
    [
        ("../etc/passwd", None, "escape"),
        ("/bundles/x.mbundle", None, "absolute"),
        ("bundles//x.mbundle", None, "empty"),
        ("bundles/" + "x" * 200 + ".mbundle", None, "too long"),
        (PORTAL, {"score": 9.8}, "no floats"),
        (PORTAL, ["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_targets_are_refused_before_anything_is_written(
    repo: TufRepository, tmp_path: Path, path: str, custom: object, problem: str
) -> None:
    before = versions(repo)

    with pytest.raises(InvalidInput, match=problem):
        repo.add_targets({path: incoming(tmp_path, b"x")}, {path: custom} if custom else None)

    assert versions(repo) == before
    assert not any(repo.targets_dir.rglob("*.mbundle"))


def test_a_missing_local_file_or_stray_custom_metadata_is_refused(
    repo: TufRepository, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        repo.add_targets({PORTAL: tmp_path / "missing.mbundle"})
    with pytest.raises(InvalidInput, match="not given"):
        repo.add_targets({PORTAL: incoming(tmp_path, b"x")}, {"other/path": {}})


def test_targets_can_be_removed(repo: TufRepository, tmp_path: Path) -> None:
    [info] = repo.add_targets({PORTAL: incoming(tmp_path, b"x")})

    assert repo.remove_targets([PORTAL]) == [repo.bin_for(PORTAL)]

    with pytest.raises(NotFound):
        repo.get_target(PORTAL)
    assert repo.target_file(info).exists()  # a client mid-update may still fetch it
    with pytest.raises(NotFound):
        repo.remove_targets([PORTAL])
    verify_published(repo)


# --- expiry -------------------------------------------------------------------------------------


def test_refresh_renews_each_role_inside_its_margin(repo: TufRepository) -> None:
    assert repo.refresh(NOW + timedelta(hours=1)) == []

    assert repo.refresh(NOW + timedelta(hours=13)) == ["timestamp"]
    assert expires(repo, "timestamp") == NOW + timedelta(hours=13 + 24)

    assert repo.refresh(NOW + timedelta(days=4)) == ["snapshot", "timestamp"]
    assert expires(repo, "snapshot") == NOW + timedelta(days=4 + 7)

    renewed = repo.refresh(NOW + timedelta(days=46))
    assert renewed == [f"bins-{n:02x}" for n in range(256)] + ["snapshot", "timestamp"]
    verify_published(repo, NOW + timedelta(days=46))

    renewed = repo.refresh(NOW + timedelta(days=336))
    assert renewed[0] == "targets"
    assert renewed[-3:] == ["snapshot", "timestamp", "root"]
    assert len(renewed) == 1 + 256 + 3  # the bins too: 336 - 46 days is past their margin
    assert repo.root_version() == 2  # the development root key renewed the root
    verify_published(repo, NOW + timedelta(days=336))


def test_refresh_reports_a_root_that_needs_the_offline_ceremony(
    tmp_path: Path, offline: Path, clock: Clock
) -> None:
    key = load_public_key(offline / "root-a.pub.pem")
    repo = TufRepository.init(tmp_path / "repo", tmp_path / "keys", root_keys=[key], clock=clock)
    draft = repo.pending_root_draft()
    assert draft is not None
    sign_root_draft(draft, offline / "root-a.pem", passphrase="correct horse")
    repo.import_root(draft)
    late = NOW + timedelta(days=340)

    with pytest.raises(ConfigurationError, match=r"root v1 expires on 2027-03-02: sign .*2\.root"):
        repo.refresh(late)

    assert expires(repo, "timestamp") == late + timedelta(days=1)  # online roles were renewed
    assert repo.pending_root_draft() == repo.drafts_dir / "2.root.json"
    with pytest.raises(ConfigurationError, match=r"2\.root\.json"):
        repo.refresh(late)  # the same draft, not another one
    sign_root_draft(
        repo.drafts_dir / "2.root.json", offline / "root-a.pem", passphrase="correct horse"
    )
    clock.now = late
    assert repo.import_root(repo.drafts_dir / "2.root.json").published
    assert repo.refresh(late) == []
    verify_published(repo, late)


# --- the offline ceremony -----------------------------------------------------------------------


def test_the_offline_ceremony_publishes_root_v1(tmp_path: Path, offline: Path) -> None:
    key = load_public_key(offline / "root-a.pub.pem")
    repo = TufRepository.init(tmp_path / "repo", tmp_path / "keys", root_keys=[key])
    draft = repo.pending_root_draft()

    assert draft == repo.drafts_dir / "1.root.json"
    assert not (repo.keys_dir / "root.pem").exists()
    assert repo.root_version() == 0
    with pytest.raises(NotFound):
        repo.root_bytes()
    with pytest.raises(VerificationFailed, match="signed by 0 of the 1"):
        repo.import_root(draft)
    with pytest.raises(ConfigurationError, match="wrong passphrase"):
        sign_root_draft(draft, offline / "root-a.pem", passphrase="wrong")
    with pytest.raises(ConfigurationError, match="encrypted"):
        sign_root_draft(draft, offline / "root-a.pem")
    generate_key(offline / "stranger.pem")
    with pytest.raises(InvalidInput, match="not a root key"):
        sign_root_draft(draft, offline / "stranger.pem")

    assert sign_root_draft(draft, offline / "root-a.pem", passphrase="correct horse") == key.keyid
    update = repo.import_root(draft)

    assert update.published and update.version == 1
    assert repo.pending_root_draft() is None
    assert repo.root_bytes(1) == (repo.metadata_dir / "1.root.json").read_bytes()
    verify_published(repo, datetime.now(UTC))
    with pytest.raises(Conflict, match="the next is v2"):
        repo.import_root(repo.metadata_dir / "1.root.json")


def test_a_root_below_its_threshold_or_signed_by_a_stranger_is_refused(
    tmp_path: Path, offline: Path
) -> None:
    a = generate_key(offline / "a.pem")
    b = generate_key(offline / "b.pem")
    repo = TufRepository.init(
        tmp_path / "repo", tmp_path / "keys", root_keys=[a, b], root_threshold=2
    )
    draft = repo.pending_root_draft()
    assert draft is not None
    sign_root_draft(draft, offline / "a.pem")

    with pytest.raises(VerificationFailed, match="signed by 1 of the 2"):
        repo.import_root(draft)

    forged = Metadata[Root].from_file(str(draft))
    forged.sign(CryptoSigner.generate_ed25519(), append=True)  # a stranger's signature counts 0
    (tmp_path / "forged.json").write_bytes(forged.to_bytes())
    with pytest.raises(VerificationFailed, match="signed by 1 of the 2"):
        repo.import_root(tmp_path / "forged.json")

    sign_root_draft(draft, offline / "b.pem")
    assert repo.import_root(draft).published


def test_an_online_key_rotation_waits_for_the_ceremony(tmp_path: Path, offline: Path) -> None:
    key = load_public_key(offline / "root-a.pub.pem")
    repo = TufRepository.init(tmp_path / "repo", tmp_path / "keys", root_keys=[key])
    first = repo.pending_root_draft()
    assert first is not None
    sign_root_draft(first, offline / "root-a.pem", passphrase="correct horse")
    repo.import_root(first)
    old = load_signer(repo.keys_dir / "timestamp.pem").public_key.keyid

    update = repo.rotate_key("timestamp")

    assert update is not None and update.draft == repo.drafts_dir / "2.root.json"
    assert (repo.keys_dir / "timestamp.pending.pem").exists()
    repo.add_targets({PORTAL: incoming(tmp_path, b"still published meanwhile")})
    timestamp = json.loads((repo.metadata_dir / "timestamp.json").read_bytes())
    assert timestamp["signatures"][0]["keyid"] == old
    with pytest.raises(Conflict, match="awaits the root ceremony"):
        repo.rotate_key("snapshot")

    sign_root_draft(update.draft, offline / "root-a.pem", passphrase="correct horse")
    imported = repo.import_root(update.draft)

    assert imported.resigned == ("timestamp",)
    assert not (repo.keys_dir / "timestamp.pending.pem").exists()
    new = load_signer(repo.keys_dir / "timestamp.pem").public_key.keyid
    assert new != old
    timestamp = json.loads((repo.metadata_dir / "timestamp.json").read_bytes())
    assert timestamp["signatures"][0]["keyid"] == new
    verify_published(repo, datetime.now(UTC))


def test_root_keys_rotate_with_old_and_new_signatures(tmp_path: Path, offline: Path) -> None:
    old = load_public_key(offline / "root-a.pub.pem")
    repo = TufRepository.init(tmp_path / "repo", tmp_path / "keys", root_keys=[old])
    first = repo.pending_root_draft()
    assert first is not None
    sign_root_draft(first, offline / "root-a.pem", passphrase="correct horse")
    repo.import_root(first)
    new = generate_key(offline / "root-b.pem")

    draft = repo.rotate_root_keys([new])

    assert draft.draft is not None
    sign_root_draft(draft.draft, offline / "root-b.pem")
    with pytest.raises(VerificationFailed, match="0 of the 1 required from root v1"):
        repo.import_root(draft.draft)
    with pytest.raises(InvalidInput, match="pass the previous root"):
        sign_root_draft(draft.draft, offline / "root-a.pem", passphrase="correct horse")
    sign_root_draft(
        draft.draft,
        offline / "root-a.pem",
        passphrase="correct horse",
        previous=repo.metadata_dir / "1.root.json",
    )
    assert repo.import_root(draft.draft).published
    root = Metadata[Root].from_bytes(repo.root_bytes())
    assert root.signed.roles["root"].keyids == [new.keyid]
    assert old.keyid not in root.signed.keys
    verify_published(repo, datetime.now(UTC))


def test_a_root_naming_online_keys_the_server_lacks_is_refused(
    repo: TufRepository, tmp_path: Path
) -> None:
    root = Metadata[Root].from_bytes(repo.root_bytes())
    root.signed.version += 1
    for keyid in list(root.signed.roles["timestamp"].keyids):
        root.signed.revoke_key(keyid, "timestamp")
    root.signed.add_key(CryptoSigner.generate_ed25519().public_key, "timestamp")
    root.sign(load_signer(repo.keys_dir / "root.pem"))
    (tmp_path / "2.root.json").write_bytes(root.to_bytes())

    with pytest.raises(ConfigurationError, match="trusts timestamp keys that are not in"):
        repo.import_root(tmp_path / "2.root.json")
    assert repo.root_version() == 1


def test_a_draft_can_be_discarded_with_its_pending_key(tmp_path: Path, offline: Path) -> None:
    repo = TufRepository.init(
        tmp_path / "repo",
        tmp_path / "keys",
        root_keys=[load_public_key(offline / "root-a.pub.pem")],
    )
    with pytest.raises(Conflict, match="only signed"):
        repo.discard_root_draft()
    first = repo.pending_root_draft()
    assert first is not None
    sign_root_draft(first, offline / "root-a.pem", passphrase="correct horse")
    repo.import_root(first)
    repo.rotate_key("targets")

    repo.discard_root_draft()

    assert repo.pending_root_draft() is None
    assert not (repo.keys_dir / "targets.pending.pem").exists()
    assert repo.renew_root().draft == repo.drafts_dir / "2.root.json"


# --- rotation in development mode ---------------------------------------------------------------


def test_every_online_key_and_the_root_key_rotate(repo: TufRepository, tmp_path: Path) -> None:
    repo.add_targets({PORTAL: incoming(tmp_path, b"x")})
    keys = {role: (repo.keys_dir / f"{role}.pem").read_bytes() for role in ("targets", "bins")}

    for role in ("timestamp", "snapshot", "targets"):
        update = repo.rotate_key(role)
        assert update is not None and update.published
        assert role in update.resigned
        verify_published(repo)
    before = versions(repo)
    assert repo.rotate_key("bins") is None
    after = versions(repo)
    assert all(after[f"bins-{n:02x}"] == before[f"bins-{n:02x}"] + 1 for n in range(256))
    assert after["targets"] == before["targets"] + 1  # the delegation names the new key
    update = repo.rotate_root_keys()
    assert update.published and update.resigned == ()

    assert repo.root_version() == 5
    assert all((repo.keys_dir / f"{role}.pem").read_bytes() != keys[role] for role in keys)
    assert sorted(os.listdir(repo.keys_dir)) == [
        "bins.pem",
        "root.pem",
        "snapshot.pem",
        "targets.pem",
        "timestamp.pem",
    ]
    verify_published(repo)
    assert repo.get_target(PORTAL).length == 1


def test_a_foreign_key_file_is_refused_before_anything_is_written(
    repo: TufRepository, tmp_path: Path
) -> None:
    generate_key(tmp_path / "foreign.pem")
    (tmp_path / "foreign.pem").replace(repo.keys_dir / "timestamp.pem")
    files = set(repo.metadata_dir.iterdir())

    with pytest.raises(ConfigurationError, match="not the key the repository trusts"):
        repo.add_targets({PORTAL: incoming(tmp_path, b"x")})
    (repo.keys_dir / "timestamp.pem").unlink()
    with pytest.raises(ConfigurationError, match="cannot read the private key"):
        repo.refresh(NOW + timedelta(days=1))

    assert set(repo.metadata_dir.iterdir()) == files
    verify_published(repo)


def test_rotating_an_unknown_role_is_refused(repo: TufRepository) -> None:
    with pytest.raises(InvalidInput, match="not an online role"):
        repo.rotate_key("root")
