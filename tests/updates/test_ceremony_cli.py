"""The offline root-key ceremony, step by step, exactly as docs/updates.md tells an operator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mamori.cli.main import cli
from mamori.config import Updates
from mamori.core import tufrepo

PASSPHRASE = "correct horse battery staple"


def invoke(*args: str, passphrase: str | None = None, confirm: bool = False) -> Result:
    answers = None if passphrase is None else (passphrase + "\n") * (2 if confirm else 1)
    return CliRunner().invoke(cli, list(args), input=answers, catch_exceptions=False)


def ok(*args: str, **kwargs: object) -> str:
    result = invoke(*args, **kwargs)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def offline(tmp_path: Path) -> Path:
    """Two key holders' removable media: an encrypted key each, public halves beside them."""
    media = tmp_path / "offline"
    media.mkdir()
    ok(
        "repo",
        "keygen",
        str(media / "alice.pem"),
        "--passphrase",
        passphrase=PASSPHRASE,
        confirm=True,
    )
    ok(
        "repo",
        "keygen",
        str(media / "bob.pem"),
        "--passphrase",
        passphrase=PASSPHRASE,
        confirm=True,
    )
    return media


def signatures(path: Path) -> int:
    return len(json.loads(path.read_bytes())["signatures"])


def test_init_sign_offline_import_rotate(
    updates_config: Updates, offline: Path, tmp_path: Path
) -> None:
    output = ok(
        "repo", "init", "--root-key", str(offline / "alice.pub.pem"),
        "--root-key", str(offline / "bob.pub.pem"), "--threshold", "2",
    )  # fmt: skip
    assert "waiting for the offline ceremony" in output
    draft = updates_config.repository_dir / "drafts" / "1.root.json"
    assert draft.exists() and signatures(draft) == 0
    assert not (updates_config.keys_dir / "root.pem").exists()  # no root key on the server

    # one signature is below the threshold of two: refused, nothing published
    carried = tmp_path / "carried-1.root.json"
    carried.write_bytes(draft.read_bytes())
    ok("repo", "sign-root", str(carried), "--key", str(offline / "alice.pem"), "--passphrase",
       passphrase=PASSPHRASE)  # fmt: skip
    refused = invoke("repo", "import-root", str(carried))
    assert refused.exit_code == 65 and "signed by 1 of the 2 required" in refused.output
    assert not (updates_config.repository_dir / "metadata" / "1.root.json").exists()

    wrong = invoke("repo", "sign-root", str(carried), "--key", str(offline / "bob.pem"),
                   "--passphrase", passphrase="not it")  # fmt: skip
    assert wrong.exit_code == 78 and "wrong passphrase" in wrong.output
    ok("repo", "sign-root", str(carried), "--key", str(offline / "bob.pem"), "--passphrase",
       passphrase=PASSPHRASE)  # fmt: skip
    assert "root v1 published" in ok("repo", "import-root", str(carried))
    anchor = tmp_path / "root.json"
    ok("repo", "trusted-root", str(anchor))
    assert json.loads(anchor.read_bytes())["signed"]["version"] == 1

    # rotating the timestamp key needs a new root version: drafted, signed offline, imported
    output = ok("repo", "rotate", "timestamp")
    assert "drafts/2.root.json" in output
    draft2 = updates_config.repository_dir / "drafts" / "2.root.json"
    for holder in ("alice", "bob"):
        ok("repo", "sign-root", str(draft2), "--key", str(offline / f"{holder}.pem"),
           "--passphrase", passphrase=PASSPHRASE)  # fmt: skip
    assert "root v2 published" in ok("repo", "import-root", str(draft2))
    repo = tufrepo.TufRepository(updates_config.repository_dir, updates_config.keys_dir)
    assert repo.root_version() == 2
    assert "re-signed nothing" in ok("repo", "refresh")


def test_a_root_key_rotation_needs_the_outgoing_and_incoming_holders(
    updates_config: Updates, offline: Path, tmp_path: Path
) -> None:
    ok("repo", "init", "--root-key", str(offline / "alice.pub.pem"))
    draft = updates_config.repository_dir / "drafts" / "1.root.json"
    ok("repo", "sign-root", str(draft), "--key", str(offline / "alice.pem"), "--passphrase",
       passphrase=PASSPHRASE)  # fmt: skip
    ok("repo", "import-root", str(draft))

    ok("repo", "rotate", "root", "--new-root-key", str(offline / "bob.pub.pem"))
    draft2 = updates_config.repository_dir / "drafts" / "2.root.json"
    ok("repo", "sign-root", str(draft2), "--key", str(offline / "bob.pem"), "--passphrase",
       passphrase=PASSPHRASE)  # fmt: skip
    # bob alone is not enough: v1's key (alice) must sign its successor too
    assert invoke("repo", "import-root", str(draft2)).exit_code == 65
    previous = updates_config.repository_dir / "metadata" / "1.root.json"
    without = invoke("repo", "sign-root", str(draft2), "--key", str(offline / "alice.pem"),
                     "--passphrase", passphrase=PASSPHRASE)  # fmt: skip
    assert without.exit_code == 65 and "pass the previous root" in without.output
    ok("repo", "sign-root", str(draft2), "--key", str(offline / "alice.pem"), "--previous",
       str(previous), "--passphrase", passphrase=PASSPHRASE)  # fmt: skip
    assert "root v2 published" in ok("repo", "import-root", str(draft2))


def test_commands_on_a_missing_repository_say_how_to_create_it(updates_config: Updates) -> None:
    result = invoke("repo", "refresh")
    assert result.exit_code == 66
    assert "mamori repo init" in result.output
