"""The fix page of a case, mounted under ``cases/`` before the cases app's own routes."""

from django.urls import path

from mamori.fixes import views

app_name = "fixes"
urlpatterns = [
    path("<str:tracking_id>/fix/", views.fix, name="fix"),
    path("<str:tracking_id>/fix/builds", views.add_build, name="add_build"),
    path("<str:tracking_id>/fix/builds/<int:number>/submit", views.submit, name="submit"),
    path("<str:tracking_id>/fix/builds/<int:number>/artifact", views.artifact, name="artifact"),
    path("<str:tracking_id>/fix/runs", views.start_run, name="start_run"),
    path(
        "<str:tracking_id>/fix/runs/<int:number>/results/<int:position>",
        views.record_result,
        name="record_result",
    ),
    path(
        "<str:tracking_id>/fix/runs/<int:number>/results/<int:position>/evidence",
        views.evidence,
        name="evidence",
    ),
    path(
        "<str:tracking_id>/fix/runs/<int:number>/complete",
        views.complete_run,
        name="complete_run",
    ),
]
