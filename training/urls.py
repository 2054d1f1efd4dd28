from django.urls import path

from . import views

app_name = "training"

urlpatterns = [
    path("", views.home, name="home"),
    path("datasets/", views.dataset_upload, name="upload"),
    path("datasets/<uuid:dataset_id>/", views.dataset_detail, name="dataset"),
    path("datasets/<uuid:dataset_id>/schema", views.dataset_revise, name="revise"),
    path("datasets/<uuid:dataset_id>/confirm", views.dataset_confirm, name="confirm"),
    path("datasets/<uuid:dataset_id>/delete", views.dataset_delete, name="delete"),
    path("datasets/<uuid:dataset_id>/parameters", views.train_parameters, name="parameters"),
    path("datasets/<uuid:dataset_id>/quote", views.train_quote, name="quote"),
    path("datasets/<uuid:dataset_id>/train", views.train_confirm, name="train"),
    path("trainings/<uuid:job_id>/", views.training_detail, name="training"),
    path("trainings/<uuid:job_id>/cancel", views.training_cancel, name="cancel"),
    path("models/<slug:slug>/", views.model_detail, name="model"),
    path("models/<slug:slug>/activate", views.model_activate, name="activate"),
    path("models/<slug:slug>/delete", views.model_delete, name="delete-model"),
    path("compare/", views.compare, name="compare"),
]
