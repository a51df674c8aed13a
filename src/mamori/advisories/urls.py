"""The advisory page of a case, mounted under ``cases/`` before the cases app's own routes."""

from django.urls import path

from mamori.advisories import views

app_name = "advisories"
urlpatterns = [
    path("<str:tracking_id>/advisory/", views.advisory, name="advisory"),
    path("<str:tracking_id>/advisory/text", views.text, name="text"),
    path("<str:tracking_id>/advisory/early", views.early, name="early"),
    path(
        "<str:tracking_id>/advisory/<str:advisory_id>/reissue",
        views.reissue,
        name="reissue",
    ),
]
