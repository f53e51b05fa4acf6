from django.urls import path

from .views import FraudPredictionManualView, FraudPredictionView

urlpatterns = [
    path("predict/", FraudPredictionView.as_view(), name="fraud-prediction"),
    path("predict-manual/", FraudPredictionManualView.as_view(), name="fraud-prediction-manual"),
]
