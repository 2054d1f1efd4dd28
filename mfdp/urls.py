from django.contrib import admin
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_views
from mfdp import api, api_root, health
from predictions.urls import job_urlpatterns

api_v1 = [
    path("", api_root.ApiRootApi.as_view(), name="api-root"),
    path("", include("accounts.api_urls")),
    path("", include("billing.api_urls")),
    path("", include("predictions.api_urls")),
    path("", include("training.api_urls")),
]

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/", include("accounts.urls")),
    path("billing/", include("billing.urls")),
    path("models/", include("predictions.urls")),
    path("jobs/", include((job_urlpatterns, "jobs"))),
    path("webhooks/", include("webhooks.urls")),
    path("own/", include("training.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]


def handler404(request, exception):
    if request.path.startswith("/api/"):
        return api.json_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return api.json_server_error(request)
    return defaults.server_error(request)
