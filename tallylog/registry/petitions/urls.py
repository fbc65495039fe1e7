"""URLs of the petitions app (mounted at /petitions/ by tallylog/urls.py)."""

from django.urls import path

from tallylog.registry.petitions import views

app_name = "petitions"
urlpatterns = [
    path("", views.petition_list, name="list"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("<slug:slug>/", views.petition_detail, name="detail"),
    path("<slug:slug>/signatures.csv", views.signatures_csv, name="csv"),
]
