from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("jobs/<uuid:job_id>/deliveries", views.job_deliveries, name="job_deliveries"),
]
