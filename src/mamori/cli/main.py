"""``mamori``: run, serve, migrate, bootstrap, check, and account administration.

Every command ends in the one mapping from ``mamori.errors`` to exit codes (``EXIT_CODES``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from mamori import __version__, config, errors

EXIT_CODES: dict[type[errors.Error], int] = {
    errors.Error: 1,
    errors.InvalidInput: 65,  # EX_DATAERR
    errors.NotFound: 66,  # EX_NOINPUT
    errors.Conflict: 73,  # EX_CANTCREAT
    errors.RateLimited: 75,  # EX_TEMPFAIL
    errors.ServiceUnavailable: 69,  # EX_UNAVAILABLE
    errors.VerificationFailed: 65,  # EX_DATAERR: the data is not what was signed
    errors.InsufficientSpace: 74,  # EX_IOERR
    errors.AuthenticationRequired: 77,  # EX_NOPERM
    errors.PermissionDenied: 77,
    errors.ConfigurationError: 78,  # EX_CONFIG
}

F = TypeVar("F", bound=Callable[..., Any])


def exit_code(error: errors.Error) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def handles_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.Error as error:
            click.echo(f"mamori: {error.message}", err=True)
            sys.exit(exit_code(error))

    return wrapper  # type: ignore[return-value]


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mamori.settings")
    import django

    django.setup()


def _migrate(verbosity: int = 1) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


def web_address(fn: F) -> F:
    """``--host`` and ``--port`` of the web server, defaulting from MAMORI_HOST and MAMORI_PORT."""
    fn = click.option(
        "--port",
        type=int,
        default=lambda: int(os.environ.get("MAMORI_PORT", "8000")),
        show_default="8000 (MAMORI_PORT)",
    )(fn)
    return click.option(
        "--host",
        default=lambda: os.environ.get("MAMORI_HOST", "127.0.0.1"),
        show_default="127.0.0.1 (MAMORI_HOST)",
    )(fn)


@click.group()
@click.version_option(__version__, prog_name="mamori")
def cli() -> None:
    """Mamori: from the first vulnerability report to a patched, shielded fleet."""


@cli.command()
@handles_errors
def migrate() -> None:
    """Create or upgrade the database schema."""
    setup_django()
    _migrate()


@cli.command()
@click.option(
    "--username",
    default=lambda: os.environ.get("MAMORI_ADMIN_USERNAME", "admin"),
    show_default="admin (MAMORI_ADMIN_USERNAME)",
)
@click.option("--email", default="", help="The administrator's e-mail address.")
@click.option("--if-needed", is_flag=True, help="Do nothing if an administrator exists.")
@handles_errors
def bootstrap(username: str, email: str, if_needed: bool) -> None:
    """Prepare a new installation and create the first administrator.

    Creates the data directory and a random secret key in it (unless MAMORI_SECRET_KEY is set),
    migrates the database, and prints the administrator's one-time password.
    """
    settings = config.load({**os.environ, "MAMORI_DEV": "1"})
    if not os.environ.get("MAMORI_SECRET_KEY"):
        config.ensure_secret_file(settings.data_dir)
    setup_django()
    _migrate(verbosity=0)
    from mamori.accounts import services

    try:
        user, password = services.bootstrap_administrator(username, email)
    except errors.Conflict:
        if if_needed:
            click.echo("An administrator exists already; nothing to do.")
            return
        raise
    click.echo(f"Created administrator {user.username!r}.")
    click.echo(f"One-time password: {password}")
    click.echo("You will be asked to choose your own password when you first log in.")


@cli.command()
@web_address
@handles_errors
def serve(host: str, port: int) -> None:
    """Serve the web UI and the API (ASGI, uvicorn)."""
    setup_django()
    _serve(host, port)


def _serve(host: str, port: int) -> None:
    import uvicorn

    click.echo(f"Mamori {__version__} on http://{host}:{port}/")
    uvicorn.run("mamori.asgi:application", host=host, port=port, lifespan="off")


@cli.command()
@handles_errors
def check() -> None:
    """Check the configuration, the database and pending migrations."""
    settings = config.load()
    click.echo(f"data directory: {settings.data_dir}")
    click.echo(f"database: {settings.database_url.split('@')[-1]}")
    setup_django()
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    call_command("check")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        raise errors.ConfigurationError(
            f"{len(pending)} migrations are not applied: run `mamori migrate`"
        )
    click.echo("ok")


@cli.group()
def user() -> None:
    """Accounts."""


@user.command("create")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(
        ["administrator", "analyst", "product_engineer", "release_manager", "auditor", "reporter"]
    ),
)
@click.option("--email", default="")
@click.option("--name", "full_name", default="")
@click.option("--organisation", default="")
@handles_errors
def user_create(username: str, role: str, email: str, full_name: str, organisation: str) -> None:
    """Create an account; prints its one-time password."""
    setup_django()
    from mamori.accounts import services
    from mamori.core.authz import Role

    created, password = services.create_user(
        None,
        username=username,
        role=Role(role),
        email=email,
        full_name=full_name,
        organisation=organisation,
    )
    click.echo(f"Created {created.username!r} ({role}). One-time password: {password}")


@cli.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--user", "username", required=True)
@click.option("--name", required=True, help="What the token is for.")
@click.option(
    "--intake-source",
    type=click.Choice(["coordinator", "support", "public", "customer"]),
    default=None,
    help="Record reports submitted with this token (POST /api/intake/reports) as this channel.",
)
@handles_errors
def token_create(username: str, name: str, intake_source: str | None) -> None:
    """Create an API token for a user and print it (it is shown once)."""
    setup_django()
    from mamori.accounts import services

    user = services.find_user(username)
    click.echo(services.issue_token(user, name, intake_source=intake_source or ""))


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@handles_errors
def django(args: tuple[str, ...]) -> None:
    """Run a Django management command (for operators and developers)."""
    setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["mamori django", *args])


# The long-running processes register themselves on ``cli``.
from mamori.cli import assess, bundle, processes, release, repo  # noqa: E402, F401


def main() -> None:
    cli(prog_name="mamori")
