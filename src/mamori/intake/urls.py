from django.urls import path

from mamori.intake import views

app_name = "report"
urlpatterns = [
    path("", views.report, name="form"),
    path("thanks/", views.thanks, name="thanks"),
    path("<str:token>/", views.portal_page, name="portal"),
    path("<str:token>/reply", views.reply, name="reply"),
    path("<str:token>/account", views.account, name="account"),
    path("<str:token>/files/<int:attachment_id>", views.attachment, name="attachment"),
]
