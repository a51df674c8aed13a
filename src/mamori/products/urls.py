from django.urls import path

from mamori.products import views

app_name = "products"
urlpatterns = [
    path("", views.product_list, name="list"),
    path("teams/", views.team_list, name="teams"),
    path("teams/<slug:slug>/members", views.team_member, name="team_member"),
    path("<slug:slug>/", views.product_detail, name="detail"),
    path("<slug:slug>/versions", views.add_version, name="add_version"),
    path("<slug:slug>/components", views.add_component, name="add_component"),
    path("<slug:slug>/aliases", views.add_alias, name="add_alias"),
]
