from django.urls import path

from dlq import views

app_name = "dlq"
urlpatterns = [path("debug/run/", views.debug_run, name="debug-run")]
