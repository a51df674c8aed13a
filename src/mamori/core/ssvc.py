"""CERT/CC SSVC: the supplier's patch development priority, looked up in the shipped tables.

The decision tables live in ``mamori/data/ssvc`` exactly as CERT/CC publishes them. This module
binds their decision points to enums, checks on load that every table answers each combination of
its inputs exactly once, and looks the answers up. No outcome is written in code, so moving to a
newer SSVC release means replacing data files and letting the load checks and the tests judge them.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import TypeVar

from mamori.errors import ConfigurationError, InvalidInput

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class _Value(StrEnum):
    """A value of an SSVC decision point; its label is the tables' own name for it."""

    @property
    def label(self) -> str:
        return _tables().labels[self]


class Exploitation(_Value):
    NONE = "none"
    PUBLIC_POC = "public_poc"
    ACTIVE = "active"


class Automatable(_Value):
    NO = "no"
    YES = "yes"


class ValueDensity(_Value):
    DIFFUSE = "diffuse"
    CONCENTRATED = "concentrated"


class TechnicalImpact(_Value):
    PARTIAL = "partial"
    TOTAL = "total"


class SafetyImpact(_Value):
    NEGLIGIBLE = "negligible"
    MARGINAL = "marginal"
    CRITICAL = "critical"
    CATASTROPHIC = "catastrophic"


class Utility(_Value):
    LABORIOUS = "laborious"
    EFFICIENT = "efficient"
    SUPER_EFFECTIVE = "super_effective"


class PublicSafetyImpact(_Value):
    MINIMAL = "minimal"
    SIGNIFICANT = "significant"


class Urgency(_Value):
    DEFER = "defer"
    SCHEDULED = "scheduled"
    OUT_OF_CYCLE = "out_of_cycle"
    IMMEDIATE = "immediate"

    @property
    def rank(self) -> int:
        """1 for the most urgent, like ``Severity.rank``, so queues can sort on it."""
        return _URGENCY_RANK[self]

    @property
    def out_of_band(self) -> bool:
        """Whether the fix ships in an out-of-band release rather than the next monthly one."""
        return self in (Urgency.OUT_OF_CYCLE, Urgency.IMMEDIATE)


_URGENCY_RANK = {
    Urgency.IMMEDIATE: 1,
    Urgency.OUT_OF_CYCLE: 2,
    Urgency.SCHEDULED: 3,
    Urgency.DEFER: 4,
}

_FIELDS: tuple[tuple[str, type[_Value]], ...] = (
    ("exploitation", Exploitation),
    ("automatable", Automatable),
    ("value_density", ValueDensity),
    ("technical_impact", TechnicalImpact),
    ("safety_impact", SafetyImpact),
)


@dataclass(frozen=True)
class SupplierInputs:
    """The five raw SSVC inputs a supplier assesses; plain strings are coerced to the enums."""

    exploitation: Exploitation
    automatable: Automatable
    value_density: ValueDensity
    technical_impact: TechnicalImpact
    safety_impact: SafetyImpact

    def __post_init__(self) -> None:
        for name, enum in _FIELDS:
            object.__setattr__(self, name, enum(getattr(self, name)))


@dataclass(frozen=True)
class SupplierDecision:
    """The outcome with the intermediate values, so a case page can show how it was reached."""

    inputs: SupplierInputs
    utility: Utility
    public_safety_impact: PublicSafetyImpact
    outcome: Urgency
    table: str

    def decision_points(self) -> list[tuple[str, str]]:
        """(decision point name, value label) pairs in the order SSVC derives them."""
        values: tuple[_Value, ...] = (
            self.inputs.exploitation,
            self.inputs.automatable,
            self.inputs.value_density,
            self.utility,
            self.inputs.technical_impact,
            self.inputs.safety_impact,
            self.public_safety_impact,
        )
        names = _tables().names
        return [(names[type(value)], value.label) for value in values]


def _read(values: Mapping[str, object], *, partial: bool) -> dict[str, str]:
    aliases = _tables().aliases
    parsed: dict[str, str] = {}
    problems: dict[str, str] = {}
    for name, enum in _FIELDS:
        raw: object = values.get(name)
        member = aliases[enum].get(raw.strip().casefold()) if isinstance(raw, str) else None
        if member is not None:
            parsed[name] = member
        elif partial and (raw is None or (isinstance(raw, str) and not raw.strip())):
            if name in values:
                parsed[name] = ""  # given blank: clear it
        elif raw is None:
            problems[name] = f"required; one of {', '.join(enum)}"
        else:
            problems[name] = f"{raw!r} is not one of {', '.join(enum)}"
    if problems:
        raise InvalidInput(problems)
    return parsed


def parse_inputs(values: Mapping[str, str]) -> SupplierInputs:
    """Read the five inputs from a form or API body, reporting every bad field at once.

    Each value may be the enum value, the table's one-letter key or its human name, in any case.
    Keys other than the five field names are ignored.
    """
    parsed = _read(values, partial=False)
    return SupplierInputs(
        exploitation=Exploitation(parsed["exploitation"]),
        automatable=Automatable(parsed["automatable"]),
        value_density=ValueDensity(parsed["value_density"]),
        technical_impact=TechnicalImpact(parsed["technical_impact"]),
        safety_impact=SafetyImpact(parsed["safety_impact"]),
    )


def parse_some(values: Mapping[str, object]) -> dict[str, str]:
    """The inputs ``values`` gives, each checked as ``parse_inputs`` checks it and returned as
    its enum value; a blank one is returned as "" (an input to clear). Inputs not given are left
    out, so a form can answer the decision points one at a time."""
    return _read(values, partial=True)


def supplier_decision(inputs: SupplierInputs) -> SupplierDecision:
    """Derive Utility and Public Safety Impact, then the supplier's priority, from the tables."""
    tables = _tables()
    utility = Utility(tables.utility.lookup(inputs.automatable, inputs.value_density))
    public_safety = PublicSafetyImpact(tables.public_safety.lookup(inputs.safety_impact))
    row = (inputs.exploitation, utility, inputs.technical_impact, public_safety)
    outcome = Urgency(tables.supplier.lookup(*row))
    return SupplierDecision(inputs, utility, public_safety, outcome, tables.supplier.ident)


# Loading and checking the tables.


@dataclass(frozen=True)
class _Spec:
    """What the code expects of one table file: its id and which enum stands for each column."""

    filename: str
    ident: str
    inputs: tuple[tuple[str, type[_Value]], ...]
    outcome: tuple[str, type[_Value]]


_UTILITY = _Spec(
    "utility_1_0_0.json",
    "ssvc:DT_U:1.0.0",
    (("ssvc:A:2.0.0", Automatable), ("ssvc:VD:1.0.0", ValueDensity)),
    ("ssvc:U:1.0.1", Utility),
)
_PUBLIC_SAFETY = _Spec(
    "public_safety_impact_1_0_0.json",
    "ssvc:DT_PSI:1.0.0",
    (("ssvc:SI:2.0.1", SafetyImpact),),
    ("ssvc:PSI:2.0.1", PublicSafetyImpact),
)
_SUPPLIER = _Spec(
    "supplier_patch_development_priority_1_0_0.json",
    "ssvc:DT_SP:1.0.0",
    (
        ("ssvc:E:1.1.0", Exploitation),
        ("ssvc:U:1.0.1", Utility),
        ("ssvc:TI:1.0.0", TechnicalImpact),
        ("ssvc:PSI:2.0.1", PublicSafetyImpact),
    ),
    ("ssvc:DSOI:1.0.0", Urgency),
)


@dataclass(frozen=True)
class _Point:
    """One decision point as a table defines it."""

    name: str
    by_key: Mapping[str, _Value]
    labels: Mapping[_Value, str]


@dataclass(frozen=True)
class _Table:
    """A checked decision table: every combination of its inputs maps to exactly one outcome."""

    ident: str
    rows: Mapping[tuple[_Value, ...], _Value]
    points: Mapping[type[_Value], _Point]

    def lookup(self, *inputs: _Value) -> _Value:
        return self.rows[inputs]


@dataclass(frozen=True)
class _Tables:
    utility: _Table
    public_safety: _Table
    supplier: _Table
    labels: Mapping[_Value, str]
    names: Mapping[type[_Value], str]
    aliases: Mapping[type[_Value], Mapping[str, _Value]]


@functools.cache
def _tables() -> _Tables:
    return _load_tables(files("mamori") / "data" / "ssvc")


def _load_tables(directory: Traversable) -> _Tables:
    """Read and check the three tables in ``directory``; a test can point this at broken ones."""
    utility, public_safety, supplier = (
        _build_table(_read_json(directory, spec.filename), spec)
        for spec in (_UTILITY, _PUBLIC_SAFETY, _SUPPLIER)
    )
    labels: dict[_Value, str] = {}
    names: dict[type[_Value], str] = {}
    aliases: dict[type[_Value], dict[str, _Value]] = {}
    for table in (utility, public_safety, supplier):
        for enum, point in table.points.items():
            _agree(names, enum, point.name, f"the name of {enum.__name__}")
            for key, member in point.by_key.items():
                label = point.labels[member]
                _agree(labels, member, label, f"the label of {member!r}")
                for alias in (member.value, key, label):
                    _agree(aliases.setdefault(enum, {}), alias.casefold(), member, repr(alias))
    return _Tables(utility, public_safety, supplier, labels, names, aliases)


def _read_json(directory: Traversable, filename: str) -> object:
    try:
        document: object = json.loads((directory / filename).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot read SSVC table {filename}: {error}") from error
    return document


def _build_table(document: object, spec: _Spec) -> _Table:
    where = spec.filename
    if (found := _ident(document, where)) != spec.ident:
        raise ConfigurationError(f"{where}: expected table {spec.ident}, found {found}")
    columns = dict((*spec.inputs, spec.outcome))
    declared = _get(document, "decision_points", dict, where)
    if set(declared) != set(columns) or _get(document, "outcome", str, where) != spec.outcome[0]:
        raise ConfigurationError(
            f"{where}: expected decision points {', '.join(columns)}, outcome {spec.outcome[0]}"
        )
    points = {
        ident: _read_point(declared[ident], ident, enum, where) for ident, enum in columns.items()
    }
    rows = _read_rows(_get(document, "mapping", list, where), spec, points, where)
    return _Table(spec.ident, rows, {columns[ident]: point for ident, point in points.items()})


def _read_point(document: object, ident: str, enum: type[_Value], where: str) -> _Point:
    """Bind a decision point's values to ``enum`` by name ("Out-of-Cycle" is ``out_of_cycle``)."""
    where = f"{where}: {ident}"
    if (found := _ident(document, where)) != ident:
        raise ConfigurationError(f"{where}: describes {found}")
    by_key: dict[str, _Value] = {}
    labels: dict[_Value, str] = {}
    for entry in _get(document, "values", list, where):
        key, label = _get(entry, "key", str, where), _get(entry, "name", str, where)
        try:
            member = enum(re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_"))
        except ValueError:
            raise ConfigurationError(
                f"{where}: unknown value {label!r}; expected {', '.join(enum)}"
            ) from None
        if key in by_key or member in labels:
            raise ConfigurationError(f"{where}: value {key!r} ({label}) is listed twice")
        by_key[key] = member
        labels[member] = label
    if missing := [member for member in enum if member not in labels]:
        raise ConfigurationError(f"{where}: no value for {', '.join(missing)}")
    return _Point(_get(document, "name", str, where), by_key, labels)


def _read_rows(
    mapping: list[object], spec: _Spec, points: Mapping[str, _Point], where: str
) -> dict[tuple[_Value, ...], _Value]:
    inputs = [ident for ident, _ in spec.inputs]
    outcome = spec.outcome[0]
    rows: dict[tuple[_Value, ...], _Value] = {}
    for number, row in enumerate(mapping):
        here = f"{where}: mapping row {number}"
        if not isinstance(row, dict) or set(row) != {*inputs, outcome}:
            raise ConfigurationError(f"{here}: needs exactly {', '.join([*inputs, outcome])}")
        combination = tuple(_cell(row, ident, points[ident], here) for ident in inputs)
        result = _cell(row, outcome, points[outcome], here)
        if combination in rows:
            raise ConfigurationError(
                f"{here}: repeats {'/'.join(combination)} "
                f"(outcomes {rows[combination]} and {result})"
            )
        rows[combination] = result
    every = itertools.product(*(points[ident].labels for ident in inputs))
    if missing := ["/".join(combination) for combination in every if combination not in rows]:
        raise ConfigurationError(f"{where}: no row for {', '.join(missing)}")
    return rows


def _cell(row: dict[str, object], column: str, point: _Point, where: str) -> _Value:
    key = row[column]
    if not isinstance(key, str) or key not in point.by_key:
        raise ConfigurationError(
            f"{where}: {column} has unknown value {key!r}; defined: {', '.join(point.by_key)}"
        )
    return point.by_key[key]


def _ident(document: object, where: str) -> str:
    return ":".join(_get(document, field, str, where) for field in ("namespace", "key", "version"))


def _get(document: object, field: str, kind: type[T], where: str) -> T:
    value = document.get(field) if isinstance(document, dict) else None
    if not isinstance(value, kind):
        raise ConfigurationError(f"{where}: {field!r} is missing or not a {kind.__name__}")
    return value


def _agree(seen: dict[K, V], key: K, value: V, what: str) -> None:
    """Record ``key -> value``; the tables must not disagree on a name, label or alias."""
    if seen.setdefault(key, value) != value:
        raise ConfigurationError(f"SSVC tables disagree on {what}: {seen[key]!r} or {value!r}")
