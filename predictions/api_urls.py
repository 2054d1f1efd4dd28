from django.urls import path

from . import api

urlpatterns = [
    path("models/", api.ModelListApi.as_view(), name="api-models"),
    path("models/<slug:slug>/", api.ModelDetailApi.as_view(), name="api-model"),
    path("predictions/", api.PredictionListCreateApi.as_view(), name="api-predictions"),
    path("predictions/<uuid:job_id>/", api.PredictionDetailApi.as_view(), name="api-prediction"),
    path(
        "predictions/<uuid:job_id>/cancel/",
        api.PredictionCancelApi.as_view(),
        name="api-prediction-cancel",
    ),
    path(
        "predictions/<uuid:job_id>/result/",
        api.PredictionResultApi.as_view(),
        name="api-prediction-result",
    ),
    path("quotes/", api.QuoteApi.as_view(), name="api-quotes"),
]
