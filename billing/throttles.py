from rest_framework.throttling import UserRateThrottle


class VoucherRedeemThrottle(UserRateThrottle):
    """Redemption attempts per user (codes are guessed by trying); the page and the API
    share it, so one limit covers both doors."""

    scope = "voucher_redeem"
