from django.urls import path

from . import api

urlpatterns = [
    path("datasets/", api.DatasetListCreateApi.as_view(), name="api-datasets"),
    path("datasets/<uuid:dataset_id>/", api.DatasetDetailApi.as_view(), name="api-dataset"),
    path(
        "datasets/<uuid:dataset_id>/schema/",
        api.DatasetSchemaApi.as_view(),
        name="api-dataset-schema",
    ),
    path(
        "datasets/<uuid:dataset_id>/confirm/",
        api.DatasetConfirmApi.as_view(),
        name="api-dataset-confirm",
    ),
    path("algorithms/", api.AlgorithmListApi.as_view(), name="api-algorithms"),
    path("trainings/", api.TrainingListCreateApi.as_view(), name="api-trainings"),
    path("trainings/quote/", api.TrainingQuoteApi.as_view(), name="api-training-quote"),
    path("trainings/<uuid:job_id>/", api.TrainingDetailApi.as_view(), name="api-training"),
    path(
        "trainings/<uuid:job_id>/cancel/",
        api.TrainingCancelApi.as_view(),
        name="api-training-cancel",
    ),
    path(
        "models/<slug:slug>/versions/",
        api.ModelVersionListApi.as_view(),
        name="api-model-versions",
    ),
    path(
        "models/<slug:slug>/versions/<int:number>/activate/",
        api.ModelVersionActivateApi.as_view(),
        name="api-model-version-activate",
    ),
    path("compare/", api.CompareApi.as_view(), name="api-compare"),
]
