from django.urls import path

from mamori.cases import views

app_name = "cases"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("mine/", views.mine, name="mine"),
    path("new/", views.new, name="new"),
    path("<str:tracking_id>/", views.detail, name="detail"),
    path("<str:tracking_id>/edit", views.edit, name="edit"),
    path("<str:tracking_id>/step", views.step, name="step"),
    path("<str:tracking_id>/message", views.message, name="message"),
    path("<str:tracking_id>/note", views.note, name="note"),
    path("<str:tracking_id>/flag", views.flag, name="flag"),
    path("<str:tracking_id>/files/<int:attachment_id>", views.attachment, name="attachment"),
]
