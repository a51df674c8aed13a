"""Release pages, mounted under ``releases/``."""

from django.urls import path

from mamori.releases import views

app_name = "releases"
urlpatterns = [
    path("", views.release_list, name="list"),
    path("out-of-band", views.create, name="create"),
    path("subscribers/", views.subscribers, name="subscribers"),
    path("subscribers/add", views.add_subscriber, name="add_subscriber"),
    path(
        "subscribers/<int:subscriber_id>/remove",
        views.remove_subscriber,
        name="remove_subscriber",
    ),
    path("<str:name>/", views.release, name="release"),
    path("<str:name>/move", views.move, name="move"),
    path("<str:name>/add", views.add, name="add"),
    path("<str:name>/publish", views.publish, name="publish"),
]
