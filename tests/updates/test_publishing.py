"""Publishing bundles: deltas only when small enough, the content store, expiry and the clock."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import override_settings

from mamori import clock
from mamori.config import Updates
from mamori.core import bundle, tufrepo
from mamori.core.manifest import Kind, Manifest
from mamori.errors import NotFound
from mamori.updates import services
from mamori.updates.store import ContentStore

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def at_now() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return root


@pytest.fixture
def bundles(tmp_path: Path) -> dict[str, Path]:
    noise = random.Random(1)
    big = noise.randbytes(200_000)
    v1 = tree(tmp_path / "v1", {"lib/a.so": big, "README": b"one"})
    v2 = tree(tmp_path / "v2", {"lib/a.so": big[:-10] + b"0123456789", "README": b"two"})
    v3 = tree(tmp_path / "v3", {"lib/a.so": noise.randbytes(200_000), "README": b"three"})
    base = Manifest("p-1", Kind.FULL, "p", (), "1", ())
    out = tmp_path / "out"
    bundle.build_from_trees(base, v1, out / "1", old_tree=None, level=3)
    fix2 = dataclasses.replace(base, id="p-2", kind=Kind.FIX, from_versions=("1",), to_version="2")
    bundle.build_from_trees(fix2, v2, out / "2", old_tree=v1, level=3)
    fix3 = dataclasses.replace(fix2, id="p-3", from_versions=("2",), to_version="3")
    bundle.build_from_trees(fix3, v3, out / "3", old_tree=v2, level=3)
    return {"1": out / "1", "2": out / "2", "3": out / "3"}


@pytest.fixture
def repository(updates_config: Updates, at_now: object) -> tufrepo.TufRepository:
    return tufrepo.TufRepository.init(
        updates_config.repository_dir, updates_config.keys_dir, dev=True
    )


def test_publishing_needs_a_repository(updates_config: Updates, bundles: dict[str, Path]) -> None:
    with pytest.raises(NotFound, match="mamori repo init"):
        services.publish(bundles["1"])


def test_a_delta_is_published_only_when_clearly_smaller(
    repository: tufrepo.TufRepository, updates_config: Updates, bundles: dict[str, Path]
) -> None:
    first = services.publish(bundles["1"])
    assert first.deltas == {} and first.skipped == {}
    small = services.publish(bundles["2"])  # ten bytes changed: a tiny delta
    assert list(small.deltas) == ["1"] and small.deltas["1"] < 0.05 * small.bundle_size
    useless = services.publish(bundles["3"])  # new random content: a delta saves nothing
    assert useless.deltas == {}
    assert "not below 70%" in useless.skipped["2"]
    entry = services.catalogue("p").entry("p-3")
    assert entry is not None and entry.deltas == {}
    store = ContentStore(updates_config.content_dir)
    assert store.versions("p") == ["1", "2", "3"]
    tree3 = store.tree("p", "3")
    assert tree3 is not None and sorted(tree3) == ["README", "lib/a.so"]
    assert store.object(tree3["README"].sha256).read_bytes() == b"three"


def test_a_fix_whose_base_is_unknown_gets_no_delta(
    repository: tufrepo.TufRepository, bundles: dict[str, Path]
) -> None:
    done = services.publish(bundles["2"])  # 1 was never published here
    assert done.deltas == {} and done.skipped == {"1": "its files are not known"}


def test_the_threshold_and_the_number_of_bases_are_settings(
    repository: tufrepo.TufRepository, updates_config: Updates, bundles: dict[str, Path]
) -> None:
    services.publish(bundles["1"])
    with override_settings(MAMORI_UPDATES=dataclasses.replace(updates_config, delta_bases=0)):
        assert services.publish(bundles["2"]).deltas == {}


def test_the_worker_re_signs_the_repository_before_it_expires(
    repository: tufrepo.TufRepository, at_now: time_machine.Coordinates
) -> None:
    job = next(j for j in clock.JOBS if j.run is clock._refresh_update_repository)
    assert job.every == timedelta(hours=1)
    assert job.run() == []  # fresh: nothing to do
    at_now.shift(timedelta(hours=13))  # over half of the timestamp's day
    assert job.run() == ["timestamp"]
    at_now.shift(timedelta(days=4))
    assert set(job.run()) >= {"snapshot", "timestamp"}


def test_the_clock_job_does_nothing_without_a_repository(updates_config: Updates) -> None:
    assert services.refresh() == []


def test_concurrent_publications_of_one_product_both_reach_the_catalogue(
    repository: tufrepo.TufRepository, bundles: dict[str, Path], tmp_path: Path
) -> None:
    other = dataclasses.replace(bundle.read_manifest(bundles["1"]), id="p-1-bis", files=())
    tree(tmp_path / "bis", {"README": b"bis"})
    bundle.build_from_trees(other, tmp_path / "bis", tmp_path / "bis.mbundle", old_tree=None)
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(services.publish, [bundles["1"], tmp_path / "bis.mbundle"]))
    assert {d.manifest.id for d in done} == {"p-1", "p-1-bis"}
    assert {e.id for e in services.catalogue("p").entries} == {"p-1", "p-1-bis"}
