from django.apps import AppConfig


class AssessmentConfig(AppConfig):
    name = "mamori.assessment"
    label = "assessment"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The cases app asks its registered providers for gate facts and tells listeners about
        # flags; this app supplies the CVSS and matrix facts and keeps priorities current.
        from mamori.assessment import hooks  # noqa: F401
