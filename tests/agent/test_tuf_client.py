"""The agent's TUF client against a real repository over real HTTP (fixtures in conftest.py).

Each attack is played by the test server (``server.replace`` / ``server.endless``) or by
changing files in the served directory, and each must end in ``VerificationFailed`` with the
client's trusted metadata exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import time_machine
from tuf.api.metadata import Metadata, Root, TargetFile, Timestamp

from mamori.agent.tuf_client import TufClient, install_trusted_root
from mamori.core.tufkeys import generate_key, load_public_key, load_signer, sign_root_draft
from mamori.core.tufrepo import TufRepository, target_url_path
from mamori.errors import (
    ConfigurationError,
    NotFound,
    ServiceUnavailable,
    VerificationFailed,
)

if TYPE_CHECKING:
    from tests.agent.conftest import RepoServer

PORTAL = "bundles/portal/portal-2.1.1.mbundle"
MakeClient = Callable[..., TufClient]


def trusted_files(client: TufClient) -> dict[str, bytes]:
    """The client's trusted metadata, file by file: attacks must leave it exactly as it was."""
    return {
        str(path.relative_to(client.metadata_dir)): path.read_bytes()
        for path in sorted(client.metadata_dir.rglob("*.json"))
    }


def publish(repo: TufRepository, tmp_path: Path, path: str, content: bytes) -> TargetFile:
    local = tmp_path / "incoming" / path.rpartition("/")[2]
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(content)
    return repo.add_targets({path: local}, {path: {"product": "portal"}})[0]


def signed(repo: TufRepository, name: str) -> dict:
    """The signed part of the current metadata ``name`` (timestamp, snapshot or a targets role)."""
    meta = repo.metadata_dir
    timestamp = json.loads((meta / "timestamp.json").read_bytes())["signed"]
    if name == "timestamp":
        return timestamp
    version = timestamp["meta"]["snapshot.json"]["version"]
    snapshot = json.loads((meta / f"{version}.snapshot.json").read_bytes())["signed"]
    if name == "snapshot":
        return snapshot
    version = snapshot["meta"][f"{name}.json"]["version"]
    return json.loads((meta / f"{version}.{name}.json").read_bytes())["signed"]


def flip(data: bytes, after: bytes, field: bytes = b'"sha256":"') -> bytes:
    """Change the first character of ``field``'s value after ``after``: same length, still JSON.

    With the default field that is one hex digit of a hash; with ``"expires":"`` a year digit.
    """
    at = data.index(field, data.index(after)) + len(field)
    digit = b"3" if data[at : at + 1] != b"3" else b"4"
    return data[:at] + digit + data[at + 1 :]


# --- the normal path ---------------------------------------------------------------------------


def test_refresh_finds_and_downloads_fetching_only_its_bin(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    content = b"portal 2.1.1\n" * 1000
    info = publish(repo, tmp_path, PORTAL, content)
    publish(repo, tmp_path, "bundles/wiki/wiki-1.0.mbundle", b"wiki")
    client = make_client()

    client.refresh()
    found = client.target_info(PORTAL)
    path = client.download(PORTAL)

    assert found == info
    assert found.custom == {"product": "portal"}
    assert path.read_bytes() == content
    digest = hashlib.sha256(content).hexdigest()
    assert repo.target_file(info).name == f"{digest}.portal-2.1.1.mbundle"
    assert server.fetched("/targets/") == [f"/targets/bundles/portal/{digest}.portal-2.1.1.mbundle"]
    snapshot = signed(repo, "snapshot")["version"]
    versions = signed(repo, "snapshot")["meta"]
    bin_name = repo.bin_for(PORTAL)
    assert server.fetched("/metadata/") == [
        "/metadata/2.root.json",  # 404: root v1 is the newest
        "/metadata/timestamp.json",
        f"/metadata/{snapshot}.snapshot.json",
        f"/metadata/{versions['targets.json']['version']}.targets.json",
        f"/metadata/{versions[f'{bin_name}.json']['version']}.{bin_name}.json",
    ]
    assert signed(repo, "targets")["targets"] == {}
    assert PORTAL in signed(repo, bin_name)["targets"]


def test_a_verified_download_is_reused(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    publish(repo, tmp_path, PORTAL, b"payload")
    first = make_client().download(PORTAL)
    requests = len(server.fetched("/targets/"))

    again = make_client().download(PORTAL)

    assert again == first
    assert len(server.fetched("/targets/")) == requests == 1


def test_an_unknown_target_is_not_found(
    repo: TufRepository, server: RepoServer, make_client: MakeClient
) -> None:
    with pytest.raises(NotFound, match="no target"):
        make_client().target_info("bundles/none/none-1.0.mbundle")


def test_a_hundred_thousand_targets_cost_the_client_one_bin(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    """100,001 targets, bulk-added: the client still fetches one bin, the writer re-signs one."""
    started = time.perf_counter()
    synthetic = [
        TargetFile(1000 + n, {"sha256": hashlib.sha256(b"%d" % n).hexdigest()}, f"fleet/p{n}.bin")
        for n in range(100_001)
    ]
    bins = repo.add_target_infos(synthetic)
    built = time.perf_counter() - started
    info = publish(repo, tmp_path, PORTAL, b"the one that is real")
    before = set(repo.metadata_dir.iterdir())

    publish(repo, tmp_path, "bundles/portal/portal-2.1.2.mbundle", b"one more")

    written = {path.name.split(".", 1)[1] for path in set(repo.metadata_dir.iterdir()) - before}
    assert written == {
        f"{repo.bin_for('bundles/portal/portal-2.1.2.mbundle')}.json",
        "snapshot.json",
    }  # timestamp.json is replaced in place
    assert len(bins) == 256
    client = make_client()
    assert client.target_info("fleet/p77777.bin") == synthetic[77_777]
    assert client.download(PORTAL).read_bytes() == b"the one that is real"
    assert client.target_info(PORTAL) == info
    bins_fetched = [path for path in server.requests if ".bins-" in path]
    assert len(bins_fetched) == len({repo.bin_for("fleet/p77777.bin"), repo.bin_for(PORTAL)})
    assert len(repo.list_targets()) == 100_003
    assert built < 60, f"bulk add of 100,001 targets took {built:.1f}s"


# --- expiry ------------------------------------------------------------------------------------


def test_an_expired_timestamp_is_refused_until_the_repository_refreshes(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    publish(repo, tmp_path, PORTAL, b"payload")
    make_client().refresh()
    trusted = trusted_files(make_client())

    with time_machine.travel(timedelta(days=2)):
        with pytest.raises(VerificationFailed, match="expired"):
            make_client().refresh()
        assert trusted_files(make_client()) == trusted

        assert "timestamp" in repo.refresh()
        make_client().refresh()
        assert make_client().download(PORTAL).read_bytes() == b"payload"


def test_a_frozen_mirror_is_refused_once_its_timestamp_expires(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    """A mirror that stops updating (freeze attack) works only until its timestamp expires."""
    frozen = (repo.metadata_dir / "timestamp.json").read_bytes()
    make_client().refresh()
    server.replace["/metadata/timestamp.json"] = frozen

    with time_machine.travel(timedelta(hours=25)):
        repo.refresh()
        with pytest.raises(VerificationFailed, match="expired"):
            make_client().refresh()


# --- key rotation ------------------------------------------------------------------------------


def test_every_role_rotates_several_times_and_an_old_client_follows(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    publish(repo, tmp_path, PORTAL, b"v0")
    frequent = make_client("frequent")
    frequent.refresh()
    make_client("rare")  # trusts root v1 and does not look again until the end
    original = {role: (repo.keys_dir / f"{role}.pem").read_bytes() for role in ("root", "bins")}

    for round_ in range(1, 3):
        for role in ("timestamp", "snapshot", "targets", "bins"):
            update = repo.rotate_key(role)
            if role == "bins":
                assert update is None  # the bins key is delegated by targets, not by root
            else:
                assert update is not None and update.published
        assert repo.rotate_root_keys().published
        path = f"bundles/portal/portal-{round_}.mbundle"
        publish(repo, tmp_path, path, b"round %d" % round_)
        assert make_client("frequent").download(path).read_bytes() == b"round %d" % round_

    assert repo.root_version() == 9  # v1 + 2 rounds x (timestamp, snapshot, targets, root)
    rare = make_client("rare")
    assert rare.trusted_root_version == 1
    assert rare.download(PORTAL).read_bytes() == b"v0"
    assert rare.trusted_root_version == 9
    assert all((repo.keys_dir / f"{role}.pem").read_bytes() != original[role] for role in original)


def test_metadata_signed_by_a_rotated_out_key_is_refused(
    repo: TufRepository, server: RepoServer, make_client: MakeClient
) -> None:
    stolen_timestamp = load_signer(repo.keys_dir / "timestamp.pem")
    stolen_root = load_signer(repo.keys_dir / "root.pem")
    repo.rotate_key("timestamp")
    repo.rotate_root_keys()
    client = make_client()
    client.refresh()
    trusted = trusted_files(client)

    forged: Metadata[Timestamp] = Metadata.from_bytes(
        (repo.metadata_dir / "timestamp.json").read_bytes()
    )
    forged.signed.version += 1000
    forged.sign(stolen_timestamp)
    server.replace["/metadata/timestamp.json"] = forged.to_bytes()
    with pytest.raises(VerificationFailed, match="bad signature"):
        make_client().refresh()

    root: Metadata[Root] = Metadata.from_bytes(repo.root_bytes())
    root.signed.version += 1
    root.signed.add_key(stolen_root.public_key, "root")
    root.sign(stolen_root)
    server.replace[f"/metadata/{root.signed.version}.root.json"] = root.to_bytes()
    with pytest.raises(VerificationFailed, match="bad signature"):
        make_client().refresh()
    assert trusted_files(make_client()) == trusted


def test_rotating_a_stolen_timestamp_key_recovers_from_fast_forward(
    repo: TufRepository, server: RepoServer, make_client: MakeClient
) -> None:
    """A stolen timestamp key can push clients to a huge version; rotating the key undoes it."""
    stolen = load_signer(repo.keys_dir / "timestamp.pem")
    forged: Metadata[Timestamp] = Metadata.from_bytes(
        (repo.metadata_dir / "timestamp.json").read_bytes()
    )
    forged.signed.version = 1_000_000
    forged.sign(stolen)
    server.replace["/metadata/timestamp.json"] = forged.to_bytes()
    make_client().refresh()  # validly signed: the client has no way to tell
    del server.replace["/metadata/timestamp.json"]
    repo.refresh(datetime.now(UTC) + timedelta(hours=13))  # the genuine timestamp moves on
    with pytest.raises(VerificationFailed, match="rollback"):
        make_client().refresh()

    repo.rotate_key("timestamp")

    make_client().refresh()
    assert b'"version":1000000' not in (make_client().metadata_dir / "timestamp.json").read_bytes()


# --- the offline root ceremony ------------------------------------------------------------------


def test_a_client_follows_roots_published_through_the_offline_ceremony(
    tmp_path: Path, serve: Callable[[Path], RepoServer]
) -> None:
    offline = tmp_path / "offline"
    offline.mkdir()
    old_key = generate_key(offline / "root-1.pem", passphrase="correct horse")
    repo = TufRepository.init(tmp_path / "repo", tmp_path / "keys", root_keys=[old_key])
    draft = repo.pending_root_draft()
    assert draft is not None
    sign_root_draft(draft, offline / "root-1.pem", passphrase="correct horse")
    repo.import_root(draft)
    server = serve(repo.path)
    install_trusted_root(tmp_path / "agent", repo.root_bytes(1))
    client = TufClient(
        tmp_path / "agent", f"{server.url}/metadata/", f"{server.url}/targets/", tmp_path / "dl"
    )
    client.refresh()

    update = repo.rotate_key("snapshot")  # needs root v2: a draft, the old key still signs
    assert update is not None and update.draft is not None
    new_key = generate_key(offline / "root-2.pem", passphrase="b")
    assert load_public_key(offline / "root-2.pub.pem") == new_key
    sign_root_draft(update.draft, offline / "root-1.pem", passphrase="correct horse")
    assert repo.import_root(update.draft).resigned == ("snapshot", "timestamp")
    rotation = repo.rotate_root_keys([new_key])
    assert rotation.draft is not None
    sign_root_draft(rotation.draft, offline / "root-2.pem", passphrase="b")
    sign_root_draft(
        rotation.draft,
        offline / "root-1.pem",
        passphrase="correct horse",
        previous=repo.metadata_dir / "2.root.json",
    )
    repo.import_root(rotation.draft)
    publish(repo, tmp_path, PORTAL, b"after the ceremony")

    again = TufClient(
        tmp_path / "agent", f"{server.url}/metadata/", f"{server.url}/targets/", tmp_path / "dl"
    )
    assert again.download(PORTAL).read_bytes() == b"after the ceremony"
    assert again.trusted_root_version == 3


# --- attacks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "hash or length mismatch"),
        (lambda data: data[:-1], "hash or length mismatch"),
        (lambda data: data + b"x", "too large"),
    ],
    ids=["changed", "truncated", "longer"],
)
def test_a_tampered_target_is_refused(
    repo: TufRepository,
    server: RepoServer,
    make_client: MakeClient,
    tmp_path: Path,
    tamper: Callable[[bytes], bytes],
    problem: str,
) -> None:
    info = publish(repo, tmp_path, PORTAL, b"genuine payload")
    stored = repo.target_file(info)
    stored.write_bytes(tamper(stored.read_bytes()))
    client = make_client()

    with pytest.raises(VerificationFailed, match=problem):
        client.download(PORTAL)
    assert not any(client.download_dir.iterdir())


@pytest.mark.parametrize(
    ("role", "problem"),
    [("timestamp", "bad signature"), ("snapshot", "hash or length mismatch"), ("bin", "hash")],
)
def test_tampered_metadata_is_refused(
    repo: TufRepository,
    server: RepoServer,
    make_client: MakeClient,
    tmp_path: Path,
    role: str,
    problem: str,
) -> None:
    publish(repo, tmp_path, PORTAL, b"payload")
    make_client().refresh()
    publish(repo, tmp_path, "bundles/portal/portal-2.1.2.mbundle", b"next")
    trusted = trusted_files(make_client())
    snapshot = signed(repo, "snapshot")
    name = repo.bin_for(PORTAL)
    url = {
        "timestamp": "/metadata/timestamp.json",
        "snapshot": f"/metadata/{snapshot['version']}.snapshot.json",
        "bin": f"/metadata/{snapshot['meta'][f'{name}.json']['version']}.{name}.json",
    }[role]
    genuine = (repo.path / url.lstrip("/")).read_bytes()
    server.replace[url] = flip(genuine, b'"signed"')

    with pytest.raises(VerificationFailed, match=problem):
        make_client().target_info(PORTAL)
    # What came before the tampered file in the update order was genuine, verified and kept.
    genuine_now = {
        "timestamp.json": (repo.metadata_dir / "timestamp.json").read_bytes(),
        "snapshot.json": (repo.metadata_dir / f"{snapshot['version']}.snapshot.json").read_bytes(),
    }
    kept = {"timestamp": [], "snapshot": ["timestamp.json"], "bin": list(genuine_now)}[role]
    assert trusted_files(make_client()) == trusted | {name: genuine_now[name] for name in kept}


def test_a_replayed_timestamp_is_refused(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    old = (repo.metadata_dir / "timestamp.json").read_bytes()
    publish(repo, tmp_path, PORTAL, b"fix for CVE-2026-0001")
    make_client().refresh()
    trusted = trusted_files(make_client())
    server.replace["/metadata/timestamp.json"] = old  # hide the fix from the client

    with pytest.raises(VerificationFailed, match="rollback"):
        make_client().refresh()
    assert trusted_files(make_client()) == trusted


def test_a_replayed_snapshot_is_refused(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    old = (repo.metadata_dir / f"{signed(repo, 'snapshot')['version']}.snapshot.json").read_bytes()
    make_client().refresh()
    publish(repo, tmp_path, PORTAL, b"fix for CVE-2026-0001")
    trusted = trusted_files(make_client())
    server.replace[f"/metadata/{signed(repo, 'snapshot')['version']}.snapshot.json"] = old

    with pytest.raises(VerificationFailed, match="hash or length mismatch"):
        make_client().refresh()
    trusted["timestamp.json"] = (repo.metadata_dir / "timestamp.json").read_bytes()
    assert trusted_files(make_client()) == trusted  # the genuine timestamp, the old snapshot


def test_mixed_metadata_from_another_repository_state_is_refused(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, tmp_path: Path
) -> None:
    """Two states with the same version numbers: their snapshots and bins cannot be mixed."""
    shutil.copytree(repo.path, tmp_path / "fork")
    shutil.copytree(repo.keys_dir, tmp_path / "fork-keys")
    fork = TufRepository(tmp_path / "fork", tmp_path / "fork-keys")
    publish(fork, tmp_path / "a", PORTAL, b"forked payload")
    publish(repo, tmp_path / "b", PORTAL, b"genuine payload")
    make_client().refresh()
    trusted = trusted_files(make_client())
    snapshot = signed(repo, "snapshot")
    assert snapshot["version"] == signed(fork, "snapshot")["version"]
    url = f"/metadata/{snapshot['version']}.snapshot.json"
    server.replace[url] = (fork.path / url.lstrip("/")).read_bytes()

    with pytest.raises(VerificationFailed, match="hash or length mismatch"):
        make_client("other").target_info(PORTAL)

    del server.replace[url]
    name = repo.bin_for(PORTAL)
    url = f"/metadata/{snapshot['meta'][f'{name}.json']['version']}.{name}.json"
    server.replace[url] = (fork.path / url.lstrip("/")).read_bytes()
    with pytest.raises(VerificationFailed, match="hash or length mismatch"):
        make_client().target_info(PORTAL)
    assert trusted_files(make_client()) == trusted


@pytest.mark.parametrize("url", ["/metadata/timestamp.json", "/metadata/2.root.json"])
def test_endless_metadata_is_cut_off_at_its_limit(
    repo: TufRepository, server: RepoServer, make_client: MakeClient, url: str
) -> None:
    client = make_client()
    client.refresh()
    trusted = trusted_files(client)
    server.endless.add(url)
    started = time.monotonic()

    with pytest.raises(VerificationFailed, match="too large"):
        make_client().refresh()

    assert time.monotonic() - started < 5
    assert server.streamed < 64 * 1024 * 1024
    assert trusted_files(client) == trusted


# --- edges -------------------------------------------------------------------------------------


def test_an_unreachable_repository_is_unavailable(
    repo: TufRepository, server: RepoServer, make_client: MakeClient
) -> None:
    client = make_client()
    server.stop()

    with pytest.raises(ServiceUnavailable, match="cannot reach"):
        client.refresh()


def test_a_stalled_download_is_abandoned(
    repo: TufRepository, server: RepoServer, tmp_path: Path
) -> None:
    install_trusted_root(tmp_path / "agent", repo.root_bytes(1))
    client = TufClient(
        tmp_path / "agent",
        f"{server.url}/metadata/",
        f"{server.url}/targets/",
        tmp_path / "dl",
        socket_timeout=1,
    )
    server.stalled.add("/metadata/timestamp.json")
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable, match="too slow"):
        client.refresh()
    assert time.monotonic() - started < 2.5


def test_a_missing_file_is_reported_as_unavailable(
    repo: TufRepository, server: RepoServer, make_client: MakeClient
) -> None:
    (repo.metadata_dir / "timestamp.json").unlink()

    with pytest.raises(ServiceUnavailable, match="HTTP 404"):
        make_client().refresh()


def test_the_trust_anchor_must_be_a_self_signed_root(repo: TufRepository, tmp_path: Path) -> None:
    genuine = repo.root_bytes(1)
    with pytest.raises(VerificationFailed, match="bad signature"):
        install_trusted_root(tmp_path / "a", flip(genuine, b'"signed"', b'"expires":"'))
    with pytest.raises(VerificationFailed):
        install_trusted_root(tmp_path / "b", (repo.metadata_dir / "timestamp.json").read_bytes())
    install_trusted_root(tmp_path / "c", genuine)
    with pytest.raises(ConfigurationError, match="already"):
        install_trusted_root(tmp_path / "c", genuine)
    with pytest.raises(ConfigurationError, match="no trusted root"):
        TufClient(tmp_path / "d", "http://127.0.0.1/m/", "http://127.0.0.1/t/", tmp_path / "dl")


def test_target_url_path_is_hash_prefixed(repo: TufRepository, tmp_path: Path) -> None:
    info = publish(repo, tmp_path, PORTAL, b"x")
    assert (
        target_url_path(info)
        == f"bundles/portal/{hashlib.sha256(b'x').hexdigest()}.portal-2.1.1.mbundle"
    )
