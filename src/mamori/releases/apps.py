from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "mamori.releases"
    label = "releases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A case handed to its product team is assigned to the next open release train.
        from mamori.releases import hooks  # noqa: F401
