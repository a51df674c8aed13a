from django.urls import path

from mamori.intake import mail_views

app_name = "intake"
urlpatterns = [
    path("held/", mail_views.held, name="held"),
    path("cases/<str:tracking_id>/mail/", mail_views.mail, name="mail"),
    path("cases/<str:tracking_id>/mail/<int:inbound_id>/raw", mail_views.raw, name="raw"),
    path("cases/<str:tracking_id>/mail/<int:inbound_id>/decide", mail_views.decide, name="decide"),
]
