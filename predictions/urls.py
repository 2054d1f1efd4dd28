from django.urls import path

from . import views

app_name = "predictions"

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("<slug:slug>/", views.model_detail, name="model"),
    path("<slug:slug>/template.xlsx", views.input_template, name="template"),
    path("<slug:slug>/metrics.svg", views.metrics_plot, name="plot"),
]
