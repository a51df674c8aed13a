"""The CSAF trusted-provider tree (CSAF 2.0 §7): files, indexes, feeds, hashes, signatures."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import time_machine
from jsonschema import Draft202012Validator

from mamori.advisories.signing import GpgSigner
from mamori.core.advisory import Publisher, Tlp
from mamori.core.provider import (
    CsafDocument,
    check_tree,
    provider_files,
    provider_metadata_problems,
    reusing_signatures,
    security_txt,
)
from mamori.errors import ConfigurationError, InvalidInput
from tests import gpg_keys

BASE = "https://psirt.example.com"
CSAF = ".well-known/csaf"
FINGERPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"
PUBLIC_KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nfake\n-----END PGP PUBLIC KEY BLOCK-----\n"
PUBLISHER = Publisher("Example PSIRT", "https://psirt.example.com", "security@example.com")
JST = timezone(timedelta(hours=9))


def fake_sign(content: bytes) -> bytes:
    """A stand-in for ``GpgSigner.sign`` that is deterministic and names what it signed."""
    digest = hashlib.sha256(content).hexdigest()
    return f"-----BEGIN PGP SIGNATURE-----\n\n{digest}\n-----END PGP SIGNATURE-----\n".encode()


def document(
    tracking_id: str,
    initial: datetime,
    current: datetime | None = None,
    *,
    tlp: Tlp = Tlp.WHITE,
    title: str = "",
    label: str | None = None,
) -> CsafDocument:
    current = current or initial
    content = {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "distribution": {"tlp": {"label": label or tlp.value}},
            "title": title or f"Advisory {tracking_id}",
            "tracking": {
                "id": tracking_id,
                "initial_release_date": initial.isoformat(),
                "current_release_date": current.isoformat(),
            },
        }
    }
    raw = json.dumps(content, indent=2, ensure_ascii=False).encode()
    return CsafDocument(tracking_id, raw, tlp, initial, current, title or f"Advisory {tracking_id}")


OLD = document(
    "MSA-2025-0007",
    datetime(2025, 12, 30, 9, 0, tzinfo=UTC),
    datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    title="Remote code execution in Mamori Web",
)
NEW = document(
    "MSA-2026-0001",
    datetime(2026, 1, 1, 0, 30, tzinfo=JST),  # 2025-12-31 in UTC: the folder is still 2026
    datetime(2026, 2, 10, 12, 0, tzinfo=UTC),
    title="クロスサイトスクリプティング",
)


def build(*documents: CsafDocument, **overrides: object) -> dict[str, bytes]:
    options: dict[str, object] = {
        "base_url": BASE,
        "publisher": PUBLISHER,
        "sign": fake_sign,
        "public_key": PUBLIC_KEY,
        "key_fingerprint": FINGERPRINT,
    }
    options.update(overrides)
    return provider_files(documents or (OLD, NEW), **options)  # type: ignore[arg-type]


def load(tree: dict[str, bytes], path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(tree[f"{CSAF}/{path}"])
    return loaded


# --- the files -------------------------------------------------------------------------------


def test_every_file_of_a_trusted_provider_is_there() -> None:
    tree = build()
    documents = ["white/2025/msa-2025-0007.json", "white/2026/msa-2026-0001.json"]
    expected = {
        "provider-metadata.json",
        f"openpgp/{FINGERPRINT}.asc",
        "white/index.txt",
        "white/changes.csv",
        "white/csaf-feed-tlp-white.json",
        *documents,
        *(f"{path}.{ext}" for path in documents for ext in ("sha256", "sha512", "asc")),
    }
    assert set(tree) == {f"{CSAF}/{path}" for path in expected}
    assert tree[f"{CSAF}/white/2026/msa-2026-0001.json"] == NEW.content  # exactly as given
    assert tree[f"{CSAF}/openpgp/{FINGERPRINT}.asc"] == PUBLIC_KEY
    assert tree[f"{CSAF}/white/2026/msa-2026-0001.json.asc"] == fake_sign(NEW.content)
    assert check_tree(tree) == []


def test_hash_files_are_in_sha256sum_format() -> None:
    tree = build()
    path = f"{CSAF}/white/2025/msa-2025-0007.json"
    sha256 = hashlib.sha256(OLD.content).hexdigest()
    sha512 = hashlib.sha512(OLD.content).hexdigest()
    assert tree[f"{path}.sha256"] == f"{sha256}  msa-2025-0007.json\n".encode()
    assert tree[f"{path}.sha512"] == f"{sha512}  msa-2025-0007.json\n".encode()


def test_sha256sum_accepts_the_hash_files(tmp_path: Path) -> None:
    tree = build()
    folder = tmp_path / "2025"
    folder.mkdir()
    for name in ("msa-2025-0007.json", "msa-2025-0007.json.sha256", "msa-2025-0007.json.sha512"):
        (folder / name).write_bytes(tree[f"{CSAF}/white/2025/{name}"])
    for tool, ext in (("sha256sum", "sha256"), ("sha512sum", "sha512")):
        done = subprocess.run(
            [tool, "--check", "--strict", f"msa-2025-0007.json.{ext}"],
            cwd=folder,
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr


def test_index_and_changes_have_exact_content_and_order() -> None:
    third = document("MSA-2026-0002", datetime(2026, 3, 2, 8, 0, tzinfo=UTC))  # ties with OLD
    tree = build(NEW, third, OLD)
    assert tree[f"{CSAF}/white/index.txt"] == (
        b"2025/msa-2025-0007.json\n2026/msa-2026-0001.json\n2026/msa-2026-0002.json\n"
    )
    assert tree[f"{CSAF}/white/changes.csv"] == (
        b'"2025/msa-2025-0007.json","2026-03-02T08:00:00+00:00"\n'
        b'"2026/msa-2026-0002.json","2026-03-02T08:00:00+00:00"\n'
        b'"2026/msa-2026-0001.json","2026-02-10T12:00:00+00:00"\n'
    )


def test_the_year_folder_is_the_year_the_document_writes() -> None:
    """Requirement 11 takes the year from the value of initial_release_date, offset and all."""
    tree = build(NEW)
    assert f"{CSAF}/white/2026/msa-2026-0001.json" in tree
    assert NEW.initial_release.astimezone(UTC).year == 2025


# --- provider-metadata.json ------------------------------------------------------------------


def test_provider_metadata_is_valid_and_complete() -> None:
    tree = build()
    metadata = load(tree, "provider-metadata.json")
    assert provider_metadata_problems(metadata) == []
    assert metadata == {
        "canonical_url": f"{BASE}/{CSAF}/provider-metadata.json",
        "distributions": [
            {
                "directory_url": f"{BASE}/{CSAF}/white/",
                "rolie": {
                    "feeds": [
                        {
                            "summary": "All TLP:WHITE advisories of Example PSIRT.",
                            "tlp_label": "WHITE",
                            "url": f"{BASE}/{CSAF}/white/csaf-feed-tlp-white.json",
                        }
                    ]
                },
            }
        ],
        "last_updated": "2026-03-02T08:00:00Z",  # the newest current release, not the clock
        "list_on_CSAF_aggregators": True,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": True,
        "public_openpgp_keys": [
            {"fingerprint": FINGERPRINT, "url": f"{BASE}/{CSAF}/openpgp/{FINGERPRINT}.asc"}
        ],
        "publisher": {
            "category": "vendor",
            "contact_details": "security@example.com",
            "name": "Example PSIRT",
            "namespace": "https://psirt.example.com",
        },
        "role": "csaf_trusted_provider",
    }


def test_provider_metadata_passes_the_oasis_schema_independently() -> None:
    """The shipped schema, loaded here without the module's helper, agrees."""
    data = Path(__file__).parents[2] / "src" / "mamori" / "data" / "csaf"
    schema = json.loads((data / "provider_json_schema.json").read_text())
    publisher = json.loads((data / "csaf_json_schema.json").read_text())["properties"]["document"][
        "properties"
    ]["publisher"]
    schema["properties"]["publisher"] = publisher  # the one external $ref, inlined
    metadata = load(build(), "provider-metadata.json")
    assert list(Draft202012Validator(schema).iter_errors(metadata)) == []


def test_the_schema_check_can_fail() -> None:
    metadata = load(build(), "provider-metadata.json")
    metadata["role"] = "csaf_overlord"
    del metadata["publisher"]["namespace"]
    problems = provider_metadata_problems(metadata)
    assert any(problem.startswith("/role:") for problem in problems)
    assert any("namespace" in problem for problem in problems)
    with pytest.raises(InvalidInput, match=r"provider-metadata\.json.*category"):
        build(publisher=Publisher("Example PSIRT", "https://psirt.example.com", category="boss"))


def test_aggregator_choices_are_passed_on() -> None:
    metadata = load(
        build(list_on_aggregators=False, mirror_on_aggregators=False), "provider-metadata.json"
    )
    assert metadata["list_on_CSAF_aggregators"] is False
    assert metadata["mirror_on_CSAF_aggregators"] is False


# --- the ROLIE feed --------------------------------------------------------------------------


def test_rolie_feed_entries_link_to_the_right_files_and_hashes() -> None:
    tree = build()
    feed = load(tree, "white/csaf-feed-tlp-white.json")["feed"]
    assert feed["id"] == "example-psirt-csaf-feed-tlp-white"
    assert feed["title"] == "Example PSIRT CSAF feed (TLP:WHITE)"
    assert feed["link"] == [
        {"rel": "self", "href": f"{BASE}/{CSAF}/white/csaf-feed-tlp-white.json"}
    ]
    assert feed["category"] == [
        {"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}
    ]
    assert feed["updated"] == "2026-03-02T08:00:00Z"
    assert [entry["id"] for entry in feed["entry"]] == ["MSA-2025-0007", "MSA-2026-0001"]
    for entry, source in zip(feed["entry"], (OLD, NEW), strict=True):
        assert entry["title"] == source.title
        assert entry["published"] == source.initial_release.astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert entry["format"] == {
            "schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json",
            "version": "2.0",
        }
        links = {(link["rel"], link["href"]) for link in entry["link"]}
        url = entry["content"]["src"]
        assert entry["content"]["type"] == "application/json"
        assert links == {
            ("self", url),
            ("hash", f"{url}.sha256"),
            ("hash", f"{url}.sha512"),
            ("signature", f"{url}.asc"),
        }
        path = f"{CSAF}/{url.removeprefix(f'{BASE}/{CSAF}/')}"
        assert tree[path] == source.content
        for algorithm in ("sha256", "sha512"):
            written = tree[f"{path}.{algorithm}"].split()[0].decode()
            assert written == hashlib.new(algorithm, tree[path]).hexdigest()


def test_green_documents_get_their_own_folder_and_feed() -> None:
    green = document("MSA-2026-0003", datetime(2026, 4, 1, tzinfo=UTC), tlp=Tlp.GREEN)
    tree = build(OLD, green)
    assert load(tree, "white/csaf-feed-tlp-white.json")["feed"]["entry"][0]["id"] == OLD.tracking_id
    assert load(tree, "green/csaf-feed-tlp-green.json")["feed"]["entry"][0]["id"] == "MSA-2026-0003"
    assert tree[f"{CSAF}/green/index.txt"] == b"2026/msa-2026-0003.json\n"
    labels = [
        distribution["rolie"]["feeds"][0]["tlp_label"]
        for distribution in load(tree, "provider-metadata.json")["distributions"]
    ]
    assert labels == ["WHITE", "GREEN"]
    assert check_tree(tree) == []


def test_the_white_feed_exists_even_when_empty() -> None:
    green = document("MSA-2026-0003", datetime(2026, 4, 1, tzinfo=UTC), tlp=Tlp.GREEN)
    tree = build(green)
    feed = load(tree, "white/csaf-feed-tlp-white.json")["feed"]
    assert feed["entry"] == []
    assert feed["updated"] == "2026-04-01T00:00:00Z"
    assert tree[f"{CSAF}/white/index.txt"] == b""


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("tlp", [Tlp.AMBER, Tlp.RED])
def test_amber_and_red_never_enter_the_public_tree(tlp: Tlp) -> None:
    secret = document("MSA-2026-0009", datetime(2026, 5, 1, tzinfo=UTC), tlp=tlp)
    with pytest.raises(InvalidInput, match=f"TLP:{tlp.value}.*never") as caught:
        build(OLD, secret)
    assert caught.value.problems.keys() == {"tlp"}


def test_a_document_labelled_red_inside_is_refused_even_if_filed_as_white() -> None:
    mislabelled = document("MSA-2026-0009", datetime(2026, 5, 1, tzinfo=UTC), label="RED")
    with pytest.raises(InvalidInput, match="labelled TLP:RED"):
        build(mislabelled)


def test_check_tree_finds_amber_folders_broken_links_and_bad_hashes() -> None:
    tree = build()
    tree[f"{CSAF}/amber/2026/x.json"] = b"{}"
    tree[f"{CSAF}/white/2025/msa-2025-0007.json.sha512"] = b"00  msa-2025-0007.json\n"
    del tree[f"{CSAF}/white/2026/msa-2026-0001.json.asc"]
    problems = check_tree(tree)
    assert any("TLP:AMBER" in problem for problem in problems)
    assert any("msa-2025-0007.json.sha512 does not match" in problem for problem in problems)
    assert any("msa-2026-0001.json.asc points at no file" in problem for problem in problems)


def test_without_a_signing_key_a_trusted_provider_refuses() -> None:
    with pytest.raises(ConfigurationError, match="signing key") as caught:
        build(sign=None)
    assert "MAMORI_SIGNING_KEY" in caught.value.message
    assert "MAMORI_GNUPG_HOME" in caught.value.message
    with pytest.raises(ConfigurationError, match="public part"):
        build(public_key=None)
    with pytest.raises(ConfigurationError, match="fingerprint"):
        build(key_fingerprint="0123")


def test_inconsistent_documents_are_refused() -> None:
    moved = CsafDocument(
        "MSA-2026-0001", NEW.content, Tlp.WHITE, NEW.initial_release, OLD.current_release, "x"
    )
    with pytest.raises(InvalidInput, match="current_release_date"):
        build(moved)
    with pytest.raises(InvalidInput, match="tracking/id"):
        build(
            CsafDocument(
                "MSA-9", NEW.content, Tlp.WHITE, NEW.initial_release, NEW.current_release, "x"
            )
        )
    with pytest.raises(InvalidInput, match="same tracking id or file name"):
        build(NEW, document("msa-2026-0001", datetime(2026, 6, 1, tzinfo=UTC)))
    with pytest.raises(InvalidInput, match="https"):
        build(base_url="http://psirt.example.com")
    with pytest.raises(InvalidInput, match="no CSAF document"):
        provider_files(
            [],
            base_url=BASE,
            publisher=PUBLISHER,
            sign=fake_sign,
            public_key=PUBLIC_KEY,
            key_fingerprint=FINGERPRINT,
        )


# --- determinism and signatures --------------------------------------------------------------


def test_two_builds_are_byte_identical_whatever_the_input_order() -> None:
    assert build(OLD, NEW) == build(NEW, OLD)
    assert list(build(OLD, NEW)) == sorted(build(OLD, NEW))


def test_the_clock_plays_no_part() -> None:
    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
        later = build()
    assert later == build()
    assert b"2030" not in b"".join(later.values())


def test_reusing_signatures_keeps_what_was_published() -> None:
    previous = build(OLD, NEW)
    calls: list[bytes] = []

    def counting(content: bytes) -> bytes:
        calls.append(content)
        return fake_sign(content).replace(b"\n\n", b"\n\nfresh ")

    changed = document("MSA-2026-0001", NEW.initial_release, datetime(2026, 7, 1, tzinfo=UTC))
    again = build(
        OLD, changed, sign=reusing_signatures(previous, counting, key_fingerprint=FINGERPRINT)
    )
    assert calls == [changed.content]  # OLD's signature came from the previous tree
    assert again[f"{CSAF}/white/2025/msa-2025-0007.json.asc"] == fake_sign(OLD.content)
    other_key = reusing_signatures(previous, counting, key_fingerprint="F" * 40)
    assert other_key(OLD.content) != fake_sign(OLD.content)  # another key: signed afresh


@pytest.fixture(scope="module")
def team() -> Iterator[gpg_keys.Identity]:
    with gpg_keys.identity("Example PSIRT <security@example.com>") as key:
        yield key


@pytest.mark.integration
def test_signatures_verify_with_gpg(team: gpg_keys.Identity, tmp_path: Path) -> None:
    signer = GpgSigner(team.home, team.fingerprint)
    tree = build(
        sign=signer.sign, public_key=signer.public_key(), key_fingerprint=signer.fingerprint
    )
    folder = tmp_path / "tree"
    for path, content in tree.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(content)
    with gpg_keys.temporary_home() as consumer:
        gpg_keys.run_gpg(
            consumer, "--import", str(folder / CSAF / f"openpgp/{team.fingerprint}.asc")
        )
        for name in ("2025/msa-2025-0007.json", "2026/msa-2026-0001.json"):
            document_path = folder / CSAF / "white" / name
            status = gpg_keys.run_gpg(
                consumer, "--status-fd", "1", "--verify", f"{document_path}.asc", str(document_path)
            )
            assert b"[GNUPG:] GOODSIG " in status
            assert f" {team.fingerprint}\n".encode() in status  # VALIDSIG ends with the primary
        document_path = folder / CSAF / "white/2025/msa-2025-0007.json"
        document_path.write_bytes(document_path.read_bytes().replace(b"Remote", b"Local"))
        with pytest.raises(gpg_keys.GpgFailed, match="BAD signature"):
            gpg_keys.run_gpg(consumer, "--verify", f"{document_path}.asc", str(document_path))


# --- security.txt ----------------------------------------------------------------------------


def test_security_txt_has_the_csaf_field_and_rfc_9116_fields() -> None:
    text = security_txt(
        contact=["security@example.com", "https://psirt.example.com/report"],
        expires=datetime(2027, 1, 1, 9, 0, tzinfo=JST),
        provider_metadata_url=f"{BASE}/{CSAF}/provider-metadata.json",
        policy_url=f"{BASE}/policy",
        encryption_url=f"{BASE}/{CSAF}/openpgp/{FINGERPRINT}.asc",
        canonical=f"{BASE}/.well-known/security.txt",
    ).decode()
    assert text == (
        "Contact: mailto:security@example.com\n"
        "Contact: https://psirt.example.com/report\n"
        "Expires: 2027-01-01T00:00:00Z\n"
        f"Encryption: {BASE}/{CSAF}/openpgp/{FINGERPRINT}.asc\n"
        "Preferred-Languages: en, ja\n"
        f"Canonical: {BASE}/.well-known/security.txt\n"
        f"Policy: {BASE}/policy\n"
        f"CSAF: {BASE}/{CSAF}/provider-metadata.json\n"
    )


def test_security_txt_refuses_what_rfc_9116_forbids() -> None:
    fine = {
        "contact": ["security@example.com"],
        "expires": datetime(2027, 1, 1, tzinfo=UTC),
        "provider_metadata_url": f"{BASE}/{CSAF}/provider-metadata.json",
        "canonical": f"{BASE}/.well-known/security.txt",
    }
    assert b"Preferred-Languages" not in security_txt(**fine, preferred_languages=())  # type: ignore[arg-type]
    refusals = {
        "contact": [],
        "expires": datetime(2027, 1, 1),  # naive
        "provider_metadata_url": "http://psirt.example.com/.well-known/csaf/provider-metadata.json",
        "canonical": "http://psirt.example.com/.well-known/security.txt",
    }
    for field, value in refusals.items():
        with pytest.raises(InvalidInput) as caught:
            security_txt(**{**fine, field: value})  # type: ignore[arg-type]
        assert field in caught.value.problems
    with pytest.raises(InvalidInput, match="provider-metadata"):
        security_txt(**{**fine, "provider_metadata_url": f"{BASE}/csaf.json"})  # type: ignore[arg-type]
