"""Public pages and the log on the web (mounted at / by tallylog/urls.py).

URL names live in the ``web`` namespace: ``{% url 'web:home' %}``.
"""

from django.urls import path, re_path

from tallylog.web import certificate, flows, logfiles, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("declare/", flows.declare, name="declare"),
    path("declarations/", views.declarations, name="declarations"),
    path("entries/<int:index>/", views.declaration, name="declaration"),
    path("declarations/<int:pk>/", views.legacy_declaration, name="legacy_declaration"),
    path("receipt/", flows.receipt, name="receipt"),
    path("withdraw/", flows.withdraw, name="withdraw"),
    path("transparency/", views.transparency, name="transparency"),
    path("verify/", views.verify, name="verify"),
    path("certificate/", certificate.certificate_by_receipt, name="certificate_by_receipt"),
    path("certificate/<int:index>/", certificate.certificate, name="certificate"),
    path("c/<slug:slug>/", views.home, name="campaign"),
    path("c/<slug:slug>/declare/", flows.declare, name="campaign_declare"),
    path("c/<slug:slug>/declarations/", views.declarations, name="campaign_declarations"),
    path("lang/<str:code>/", views.set_language, name="set_language"),
    path("assets/site.css", views.stylesheet, name="stylesheet"),
    path("assets/<str:name>", views.script, name="script"),
    path("log-proof/<int:index>", logfiles.log_proof, name="log_proof"),
    path("log/", logfiles.log_index, name="log_index"),
    re_path(r"^log/(?P<path>[A-Za-z0-9._/-]{1,200})$", logfiles.log_file, name="log_file"),
]
