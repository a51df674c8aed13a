"""``mamori assess``: threat-intelligence imports that feed the assessment of cases."""

from __future__ import annotations

from pathlib import Path

import click

from mamori.cli.main import cli, handles_errors, setup_django


@cli.group()
def assess() -> None:
    """Assessment data: CISA KEV and FIRST EPSS imports."""


def _read(source: str, limit: int) -> tuple[bytes, str]:
    from mamori.assessment import imports
    from mamori.errors import InvalidInput, PayloadTooLarge

    if source.startswith(("http://", "https://")):
        return imports.fetch(source, limit), source
    path = Path(source).expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise InvalidInput(f"cannot read {source}: {error.strerror}", field="source") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"{source} is larger than {limit // (1024 * 1024)} MiB")
    return data, str(path.resolve())


def _report(result: object) -> None:
    from mamori.assessment.imports import ImportResult

    assert isinstance(result, ImportResult)
    click.echo(result.message)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@assess.command("import-kev")
@click.argument("source", required=False)
@handles_errors
def import_kev(source: str | None) -> None:
    """Import CISA's KEV catalog from SOURCE (a JSON file or URL; default MAMORI_KEV_URL)."""
    setup_django()
    from django.conf import settings

    from mamori.assessment import imports

    data, where = _read(source or settings.MAMORI_THREAT_FEEDS.kev_url, imports.MAX_KEV_BYTES)
    _report(imports.import_kev(None, data, where, operator="command line"))


@assess.command("import-epss")
@click.argument("source", required=False)
@handles_errors
def import_epss(source: str | None) -> None:
    """Import a FIRST EPSS score file from SOURCE (CSV or .csv.gz, file or URL; default
    MAMORI_EPSS_URL)."""
    setup_django()
    from django.conf import settings

    from mamori.assessment import imports

    data, where = _read(source or settings.MAMORI_THREAT_FEEDS.epss_url, imports.MAX_EPSS_BYTES)
    _report(imports.import_epss(None, data, where, operator="command line"))


@assess.command("imports")
@handles_errors
def list_imports() -> None:
    """The latest imports: when, what, from where, and the outcome."""
    setup_django()
    from mamori.assessment.models import ThreatImport

    for record in ThreatImport.objects.all()[:50]:
        click.echo(
            f"{record.imported_at:%Y-%m-%d %H:%M}\t{record.kind}\t{record.version or '-'}\t"
            f"{record.entries}\t{record.source}\t{record.outcome}"
        )
