from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's, minus the trailing-slash redirect under /api/: a redirect would drop a POST's
    body, so an API client gets a JSON 404 that names the problem instead."""

    def should_redirect_with_slash(self, request) -> bool:
        if request.path_info.startswith("/api/"):
            return False
        return super().should_redirect_with_slash(request)
