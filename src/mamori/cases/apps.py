from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "mamori.cases"
    label = "cases"
    verbose_name = "Vulnerability cases"
