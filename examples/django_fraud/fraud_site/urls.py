from django.urls import include, path

urlpatterns = [
    path("api/fraud/", include("fraud.urls")),
]
