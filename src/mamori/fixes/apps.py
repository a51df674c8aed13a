from django.apps import AppConfig


class FixesConfig(AppConfig):
    name = "mamori.fixes"
    label = "fixes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The cases app asks its registered providers for gate facts: this app supplies the
        # build that will ship and whether a test run on it passed (ready_for_release).
        from mamori.fixes import hooks  # noqa: F401
