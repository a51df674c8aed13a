"""The threat-intelligence page (KEV and EPSS imports), mounted at ``threat-intel/``."""

from django.urls import path

from mamori.assessment import views

app_name = "threat_intel"
urlpatterns = [
    path("", views.threat_intel, name="page"),
    path("kev", views.import_kev, name="import_kev"),
    path("epss", views.import_epss, name="import_epss"),
]
