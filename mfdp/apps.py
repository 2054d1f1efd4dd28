from django.contrib.admin.apps import AdminConfig


class MfdpAdminConfig(AdminConfig):
    """Installed in place of django.contrib.admin, so that `admin.site` is the back office's
    site (mfdp/admin_dashboard.py: the index opens with today's figures)."""

    default_site = "mfdp.admin_dashboard.MfdpAdminSite"
