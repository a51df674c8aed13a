from django.contrib import admin
from django.urls import include, path

from mamori.advisories import public_views
from mamori.api import api

urlpatterns = [
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("accounts/", include("mamori.accounts.urls")),
    path("catalogue/", include("mamori.products.urls")),
    # Before the cases app: its "<tracking_id>/" route must not take the assessment's pages.
    path("cases/", include("mamori.assessment.urls")),
    path("cases/", include("mamori.fixes.urls")),
    path("cases/", include("mamori.advisories.urls")),
    path("cases/", include("mamori.cases.urls")),
    path("threat-intel/", include("mamori.assessment.threat_intel_urls")),
    path("report/", include("mamori.intake.urls", namespace="report")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("intake/", include("mamori.intake.mail_urls")),
    path("releases/", include("mamori.releases.urls")),
    # The published public tree (in production a web server or CDN serves the same files).
    path(".well-known/<path:path>", public_views.well_known, name="public-well-known"),
    path("security/", public_views.security, name="public-security"),
    path("security/<path:path>", public_views.security, name="public-security-file"),
    # The signed update repository (in production a web server, CDN or object store serves it).
    path("updates/", include("mamori.updates.urls")),
    path("", include("mamori.web.urls")),
]
