"""The update repository's static tree, served in development under ``updates/``."""

from django.urls import path

from mamori.updates import views

app_name = "updates"
urlpatterns = [
    path("<path:path>", views.repository_file, name="file"),
]
