from django.urls import path

from . import api

urlpatterns = [
    path("balance/", api.BalanceApi.as_view(), name="api-balance"),
    path("ledger/", api.LedgerListApi.as_view(), name="api-ledger"),
    path("vouchers/redeem/", api.VoucherRedeemApi.as_view(), name="api-voucher-redeem"),
]
