from django.urls import path

from . import views

app_name = "predictions"

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("<slug:slug>/", views.model_detail, name="model"),
    path("<slug:slug>/template.xlsx", views.input_template, name="template"),
    path("<slug:slug>/metrics.svg", views.metrics_plot, name="plot"),
    path("<slug:slug>/predict", views.predict_row, name="predict"),
    path("<slug:slug>/quote", views.quote_upload, name="quote"),
    path("<slug:slug>/confirm", views.confirm_upload, name="confirm"),
]

# Mounted at /jobs/ under the "jobs" namespace: include((job_urlpatterns, "jobs")).
job_urlpatterns = [
    path("", views.job_list, name="list"),
    path("<uuid:job_id>/", views.job_detail, name="detail"),
    path("<uuid:job_id>/cancel", views.job_cancel, name="cancel"),
    path("<uuid:job_id>/result.xlsx", views.job_result, name="result"),
    path("<uuid:job_id>/upload", views.job_upload, name="upload"),
]
