"""URLs of the service centre console (mounted at /console/ by tallylog/urls.py)."""

from django.urls import path

from tallylog.console import views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.ConsoleLoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("console.css", views.stylesheet, name="stylesheet"),
    path("calls/", views.calls, name="calls"),
    path("calls/new/", views.call_new, name="call_new"),
    path("calls/<int:call_id>/intake/", views.intake, name="intake"),
    path("recorded/", views.recorded, name="recorded"),
    path("stats/", views.stats_page, name="stats"),
    path("stats.csv", views.stats_csv, name="stats_csv"),
    path("review/", views.review, name="review"),
    path("centres/", views.centres, name="centres"),
    path("staff/", views.staff_list, name="staff"),
    path("staff/<int:staff_id>/review/", views.staff_review, name="staff_review"),
]
