from django.urls import path

from . import api

urlpatterns = [
    path("models/", api.ModelListApi.as_view(), name="api-models"),
    path("models/<slug:slug>/", api.ModelDetailApi.as_view(), name="api-model"),
]
