from django.urls import include, path

urlpatterns = [path("dlq/", include("dlq.urls"))]
