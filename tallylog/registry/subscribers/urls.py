"""URLs of the subscribers app (mounted at /newsletter/ by tallylog/urls.py)."""

from django.urls import path

from tallylog.registry.subscribers import views

app_name = "subscribers"
urlpatterns = [
    path("", views.signup, name="signup"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
