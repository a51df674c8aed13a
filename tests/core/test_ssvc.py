"""SSVC supplier decision, checked against CERT/CC's own CSV rendering of the tables."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from mamori.core import ssvc
from mamori.core.ssvc import (
    Automatable,
    Exploitation,
    PublicSafetyImpact,
    SafetyImpact,
    SupplierDecision,
    SupplierInputs,
    TechnicalImpact,
    Urgency,
    Utility,
    ValueDensity,
    parse_inputs,
    supplier_decision,
)
from mamori.errors import ConfigurationError, InvalidInput

SHARED = Path(__file__).parents[3] / "shared" / "data" / "ssvc"
SHIPPED = files("mamori") / "data" / "ssvc"
SUPPLIER_JSON = "supplier_patch_development_priority_1_0_0.json"
UTILITY_JSON = "utility_1_0_0.json"
PSI_JSON = "public_safety_impact_1_0_0.json"


def _csv(name: str, *columns: tuple[str, type[ssvc._Value]]) -> dict[tuple[Any, ...], Any]:
    """A CSV table as {inputs: outcome}; CERT/CC writes values as lower-case human names."""
    with (SHARED / name).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["row", *(title for title, _ in columns)]
        rows = [
            [
                enum(text.replace(" ", "_").replace("-", "_"))
                for (_, enum), text in zip(columns, row[1:], strict=True)
            ]
            for row in reader
        ]
    table = {tuple(row[:-1]): row[-1] for row in rows}
    assert len(table) == len(rows), f"{name} repeats a combination"
    return table


E = ("Exploitation v1.1.0", Exploitation)
U = ("Utility v1.0.1", Utility)
PSI = ("Public Safety Impact v2.0.1", PublicSafetyImpact)
SUPPLIER_CSV = _csv(
    "supplier_patch_development_priority_1_0_0.csv",
    E,
    U,
    ("Technical Impact v1.0.0", TechnicalImpact),
    PSI,
    ("Defer, Scheduled, Out-of-Cycle, Immediate v1.0.0", Urgency),
)
UTILITY_CSV = _csv(
    "utility_1_0_0.csv",
    ("Automatable v2.0.0", Automatable),
    ("Value Density v1.0.0", ValueDensity),
    U,
)
PSI_CSV = _csv("public_safety_impact_1_0_0.csv", ("Safety Impact v2.0.1", SafetyImpact), PSI)

ALL_RAW = list(
    itertools.product(Exploitation, Automatable, ValueDensity, TechnicalImpact, SafetyImpact)
)


def test_the_csv_copies_have_the_expected_size() -> None:
    assert (len(SUPPLIER_CSV), len(UTILITY_CSV), len(PSI_CSV)) == (36, 4, 4)
    assert len(ALL_RAW) == 96


@pytest.mark.parametrize(("row", "expected"), SUPPLIER_CSV.items())
def test_supplier_table_rows(row: tuple[ssvc._Value, ...], expected: Urgency) -> None:
    assert ssvc._tables().supplier.lookup(*row) is expected


@pytest.mark.parametrize(("row", "expected"), UTILITY_CSV.items())
def test_utility_table_rows(row: tuple[ssvc._Value, ...], expected: Utility) -> None:
    assert ssvc._tables().utility.lookup(*row) is expected


@pytest.mark.parametrize(("row", "expected"), PSI_CSV.items())
def test_public_safety_table_rows(
    row: tuple[ssvc._Value, ...], expected: PublicSafetyImpact
) -> None:
    assert ssvc._tables().public_safety.lookup(*row) is expected


@pytest.mark.parametrize(
    ("exploitation", "automatable", "density", "technical", "safety"),
    ALL_RAW,
    ids=["-".join(raw) for raw in ALL_RAW],
)
def test_every_path_from_the_raw_inputs(
    exploitation: Exploitation,
    automatable: Automatable,
    density: ValueDensity,
    technical: TechnicalImpact,
    safety: SafetyImpact,
) -> None:
    inputs = parse_inputs(
        {
            "exploitation": exploitation.value,
            "automatable": automatable.value,
            "value_density": density.value,
            "technical_impact": technical.value,
            "safety_impact": safety.value,
        }
    )
    assert inputs == SupplierInputs(exploitation, automatable, density, technical, safety)
    decision = supplier_decision(inputs)
    utility = UTILITY_CSV[(automatable, density)]
    public_safety = PSI_CSV[(safety,)]
    assert decision == SupplierDecision(
        inputs=inputs,
        utility=utility,
        public_safety_impact=public_safety,
        outcome=SUPPLIER_CSV[(exploitation, utility, technical, public_safety)],
        table="ssvc:DT_SP:1.0.0",
    )


def test_the_raw_inputs_reach_every_outcome() -> None:
    outcomes = {supplier_decision(SupplierInputs(*raw)).outcome for raw in ALL_RAW}
    assert outcomes == set(Urgency)


@pytest.mark.parametrize("name", [SUPPLIER_JSON, UTILITY_JSON, PSI_JSON, "LICENSE"])
def test_shipped_files_are_upstream_unchanged(name: str) -> None:
    assert (SHIPPED / name).read_bytes() == (SHARED / name).read_bytes()


def test_shipped_readme_names_the_source() -> None:
    readme = (SHIPPED / "README.md").read_text(encoding="utf-8")
    assert "https://github.com/CERTCC/SSVC" in readme
    assert "LICENSE" in readme


def test_enum_values() -> None:
    assert [e.value for e in Exploitation] == ["none", "public_poc", "active"]
    assert [u.value for u in Urgency] == ["defer", "scheduled", "out_of_cycle", "immediate"]
    assert [u.value for u in Utility] == ["laborious", "efficient", "super_effective"]


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (Exploitation.PUBLIC_POC, "Public PoC"),
        (Exploitation.NONE, "None"),
        (Automatable.YES, "Yes"),
        (ValueDensity.CONCENTRATED, "Concentrated"),
        (TechnicalImpact.PARTIAL, "Partial"),
        (SafetyImpact.CATASTROPHIC, "Catastrophic"),
        (Utility.SUPER_EFFECTIVE, "Super Effective"),
        (PublicSafetyImpact.SIGNIFICANT, "Significant"),
        (Urgency.OUT_OF_CYCLE, "Out-of-Cycle"),
        (Urgency.IMMEDIATE, "Immediate"),
    ],
)
def test_labels_are_the_tables_names(value: ssvc._Value, label: str) -> None:
    assert value.label == label


def test_urgency_rank_and_release() -> None:
    assert sorted(Urgency, key=lambda u: u.rank) == [
        Urgency.IMMEDIATE,
        Urgency.OUT_OF_CYCLE,
        Urgency.SCHEDULED,
        Urgency.DEFER,
    ]
    assert [u.rank for u in Urgency] == [4, 3, 2, 1]
    assert {u for u in Urgency if u.out_of_band} == {Urgency.OUT_OF_CYCLE, Urgency.IMMEDIATE}


def test_decision_points_for_display() -> None:
    decision = supplier_decision(
        SupplierInputs(
            Exploitation.PUBLIC_POC,
            Automatable.NO,
            ValueDensity.CONCENTRATED,
            TechnicalImpact.TOTAL,
            SafetyImpact.NEGLIGIBLE,
        )
    )
    assert decision.outcome is Urgency.OUT_OF_CYCLE
    assert decision.decision_points() == [
        ("Exploitation", "Public PoC"),
        ("Automatable", "No"),
        ("Value Density", "Concentrated"),
        ("Utility", "Efficient"),
        ("Technical Impact", "Total"),
        ("Safety Impact", "Negligible"),
        ("Public Safety Impact", "Minimal"),
    ]


def test_inputs_accept_keys_and_names_in_any_case() -> None:
    inputs = parse_inputs(
        {
            "exploitation": "Public PoC",
            "automatable": "Y",
            "value_density": " CONCENTRATED ",
            "technical_impact": "t",
            "safety_impact": "R",
            "csrfmiddlewaretoken": "ignored",
        }
    )
    assert inputs == SupplierInputs(
        Exploitation.PUBLIC_POC,
        Automatable.YES,
        ValueDensity.CONCENTRATED,
        TechnicalImpact.TOTAL,
        SafetyImpact.CRITICAL,
    )
    assert parse_inputs({**_good(), "exploitation": "public poc"}).exploitation is (
        Exploitation.PUBLIC_POC
    )


def test_inputs_coerce_plain_strings() -> None:
    inputs = SupplierInputs(*_strings("active", "yes", "diffuse", "total", "marginal"))
    assert inputs.exploitation is Exploitation.ACTIVE
    assert supplier_decision(inputs).outcome is Urgency.IMMEDIATE


def _strings(*values: str) -> list[Any]:
    """Plain strings, as a model field or a JSON body would hold them."""
    return list(values)


def _good() -> dict[str, str]:
    return {
        "exploitation": "none",
        "automatable": "no",
        "value_density": "diffuse",
        "technical_impact": "partial",
        "safety_impact": "negligible",
    }


def test_unknown_value_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_inputs({**_good(), "exploitation": "rumoured"})
    assert list(caught.value.problems) == ["exploitation"]
    problem = caught.value.problems["exploitation"]
    assert "'rumoured'" in problem
    assert all(value in problem for value in ("none", "public_poc", "active"))


def test_missing_field() -> None:
    values = _good()
    del values["safety_impact"]
    with pytest.raises(InvalidInput) as caught:
        parse_inputs(values)
    assert list(caught.value.problems) == ["safety_impact"]
    assert "required" in caught.value.problems["safety_impact"]
    assert "catastrophic" in caught.value.problems["safety_impact"]


def test_several_wrong_fields_are_reported_together() -> None:
    values = {**_good(), "automatable": "maybe", "technical_impact": "", "value_density": "X"}
    del values["exploitation"]
    with pytest.raises(InvalidInput) as caught:
        parse_inputs(values)
    assert set(caught.value.problems) == {
        "exploitation",
        "automatable",
        "technical_impact",
        "value_density",
    }
    assert caught.value.diagnostics()["error"] == "invalid"


@pytest.mark.parametrize("value", [3, None, ["active"], b"active"])
def test_non_string_value(value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_inputs({**_good(), "exploitation": value})
    assert list(caught.value.problems) == ["exploitation"]


def test_a_key_of_another_decision_point_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_inputs({**_good(), "exploitation": "P", "automatable": "P"})
    assert list(caught.value.problems) == ["automatable"]


# Broken tables: a copy of the shipped directory, edited, must refuse to load.


@pytest.fixture
def table_dir(tmp_path: Path) -> Path:
    for name in (SUPPLIER_JSON, UTILITY_JSON, PSI_JSON):
        (tmp_path / name).write_bytes((SHIPPED / name).read_bytes())
    return tmp_path


def _edit(directory: Path, name: str, change: Callable[[Any], None]) -> None:
    document = json.loads((directory / name).read_text(encoding="utf-8"))
    change(document)
    (directory / name).write_text(json.dumps(document), encoding="utf-8")


def test_an_unedited_copy_loads(table_dir: Path) -> None:
    tables = ssvc._load_tables(table_dir)
    assert tables.supplier.rows == ssvc._tables().supplier.rows
    assert tables.supplier.ident == "ssvc:DT_SP:1.0.0"


def test_outcomes_come_from_the_table(table_dir: Path) -> None:
    def immediate_first_row(document: Any) -> None:
        document["mapping"][0]["ssvc:DSOI:1.0.0"] = "I"

    _edit(table_dir, SUPPLIER_JSON, immediate_first_row)
    tables = ssvc._load_tables(table_dir)
    first = (
        Exploitation.NONE,
        Utility.LABORIOUS,
        TechnicalImpact.PARTIAL,
        PublicSafetyImpact.MINIMAL,
    )
    assert ssvc._tables().supplier.lookup(*first) is Urgency.DEFER
    assert tables.supplier.lookup(*first) is Urgency.IMMEDIATE


def _drop_last_row(document: Any) -> None:
    document["mapping"].pop()


def _conflicting_duplicate(document: Any) -> None:
    rows = document["mapping"]
    rows.append({**rows[0], "ssvc:DSOI:1.0.0": "I"})


def _identical_duplicate(document: Any) -> None:
    rows = document["mapping"]
    rows.append(dict(rows[5]))


def _unknown_row_value(document: Any) -> None:
    document["mapping"][3]["ssvc:E:1.1.0"] = "X"


def _unknown_outcome_value(document: Any) -> None:
    document["mapping"][3]["ssvc:DSOI:1.0.0"] = "Z"


def _unknown_point_value(document: Any) -> None:
    values = document["decision_points"]["ssvc:E:1.1.0"]["values"]
    values.append({"key": "R", "name": "Rumoured", "definition": ""})


def _missing_column(document: Any) -> None:
    del document["mapping"][7]["ssvc:TI:1.0.0"]


def _other_version(document: Any) -> None:
    document["version"] = "2.0.0"


def _other_decision_point(document: Any) -> None:
    points = document["decision_points"]
    points["ssvc:E:1.2.0"] = points.pop("ssvc:E:1.1.0")


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (SUPPLIER_JSON, _drop_last_row, "no row for active/super_effective/total/significant"),
        (SUPPLIER_JSON, _conflicting_duplicate, "repeats none/laborious/partial/minimal"),
        (SUPPLIER_JSON, _identical_duplicate, "repeats none/efficient/partial/significant"),
        (SUPPLIER_JSON, _unknown_row_value, "unknown value 'X'"),
        (SUPPLIER_JSON, _unknown_outcome_value, "unknown value 'Z'"),
        (SUPPLIER_JSON, _unknown_point_value, "unknown value 'Rumoured'"),
        (SUPPLIER_JSON, _missing_column, "mapping row 7"),
        (SUPPLIER_JSON, _other_version, "expected table ssvc:DT_SP:1.0.0"),
        (SUPPLIER_JSON, _other_decision_point, "expected decision points"),
        (UTILITY_JSON, _drop_last_row, "no row for yes/concentrated"),
        (PSI_JSON, _drop_last_row, "no row for catastrophic"),
    ],
)
def test_broken_tables_refuse_to_load(
    table_dir: Path, name: str, change: Callable[[Any], None], message: str
) -> None:
    _edit(table_dir, name, change)
    with pytest.raises(ConfigurationError, match=message):
        ssvc._load_tables(table_dir)


def test_a_missing_or_unreadable_table_refuses_to_load(table_dir: Path) -> None:
    (table_dir / PSI_JSON).unlink()
    with pytest.raises(ConfigurationError, match=PSI_JSON):
        ssvc._load_tables(table_dir)
    (table_dir / PSI_JSON).write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=PSI_JSON):
        ssvc._load_tables(table_dir)


def test_a_value_missing_from_a_decision_point_refuses_to_load(table_dir: Path) -> None:
    def drop_catastrophic(document: Any) -> None:
        point = document["decision_points"]["ssvc:SI:2.0.1"]
        point["values"].pop()
        document["mapping"].pop()

    _edit(table_dir, PSI_JSON, drop_catastrophic)
    with pytest.raises(ConfigurationError, match="no value for catastrophic"):
        ssvc._load_tables(table_dir)


def test_parse_some_checks_only_the_inputs_given() -> None:
    from mamori.core.ssvc import parse_some

    assert parse_some({"automatable": "Y", "safety_impact": "  "}) == {
        "automatable": "yes",
        "safety_impact": "",
    }
    with pytest.raises(InvalidInput) as refused:
        parse_some({"automatable": "maybe", "value_density": 3, "technical_impact": "total"})
    assert set(refused.value.problems) == {"automatable", "value_density"}
