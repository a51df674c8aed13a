"""Case-level assessment pages, mounted under ``cases/`` before the cases app's own routes."""

from django.urls import path

from mamori.assessment import views

app_name = "assessment"
urlpatterns = [
    path("<str:tracking_id>/assessment/", views.assessment, name="assessment"),
    path("<str:tracking_id>/assessment/rating", views.rating, name="rating"),
    path("<str:tracking_id>/assessment/override", views.override, name="override"),
    path("<str:tracking_id>/assessment/fact", views.fact, name="fact"),
    path("<str:tracking_id>/matrix/", views.matrix, name="matrix"),
    path("<str:tracking_id>/matrix/row", views.matrix_row, name="matrix_row"),
    path("<str:tracking_id>/variants/add", views.variant_add, name="variant_add"),
    path("<str:tracking_id>/variants/<int:check_id>", views.variant_result, name="variant_result"),
]
