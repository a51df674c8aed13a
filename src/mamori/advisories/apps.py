from django.apps import AppConfig


class AdvisoriesConfig(AppConfig):
    name = "mamori.advisories"
    label = "advisories"
    default_auto_field = "django.db.models.BigAutoField"
