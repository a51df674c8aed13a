"""``mamori release list|publish|tick`` and ``mamori publish``, through click."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mamori.accounts.models import User
from mamori.cases import services as cases
from mamori.cli.main import cli
from mamori.core.workflow import State
from tests.releases.conftest import confirmed_case
from tests.releases.test_flow import _develop, _fail_then_pass

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_release_commands_list_tick_and_publish(
    people: dict[str, User], publishing: Path, clock: Any
) -> None:
    tid = confirmed_case(people)
    _develop(people, tid)
    _fail_then_pass(people, tid)
    listed = CliRunner().invoke(cli, ["release", "list"])
    assert listed.exit_code == 0, listed.output
    assert "2026-12" in listed.output and "1 case(s)" in listed.output

    clock.move_to(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    ticked = CliRunner().invoke(cli, ["release", "tick"])
    assert ticked.exit_code == 0, ticked.output
    assert "advance notification of 2026-12 sent" in ticked.output

    refused = CliRunner().invoke(cli, ["release", "publish", "2026-12", "--as", "nobody"])
    assert refused.exit_code == 66  # not found
    clock.move_to(datetime(2026, 12, 8, 10, 0, tzinfo=UTC))
    published = CliRunner().invoke(cli, ["release", "publish", "2026-12", "--as", "manager"])
    assert published.exit_code == 0, published.output
    assert cases.get_case(people["manager"], tid).state == State.RELEASED.value

    again = CliRunner().invoke(cli, ["publish"])
    assert again.exit_code == 0, again.output
    assert "unchanged" in again.output
