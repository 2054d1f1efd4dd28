from django.urls import path, re_path

from . import views

app_name = "billing"

urlpatterns = [
    path("", views.billing, name="billing"),
    path("vouchers/redeem/", views.voucher_redeem, name="voucher_redeem"),
    path("topup/", views.demo_topup, name="demo_topup"),
    path("low-balance/", views.low_balance_threshold, name="low_balance_threshold"),
    re_path(r"^statement\.(?P<fmt>csv|xlsx)$", views.statement_export, name="statement_export"),
]
