from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from . import selectors, services
from .filters import LedgerFilter
from .models import LedgerEntry
from .throttles import VoucherRedeemThrottle


class LedgerEntrySerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")
    by_staff = serializers.SerializerMethodField()

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "created_at",
            "kind",
            "kind_label",
            "amount",
            "balance_after",
            "memo",
            "by_staff",
        ]

    def get_by_staff(self, entry: LedgerEntry) -> str | None:
        return entry.actor.get_full_name() if entry.actor_id else None


class BalanceApi(APIView):
    class OutputSerializer(serializers.Serializer):
        balance = serializers.IntegerField(help_text="Credits available now.")

        class Meta:
            ref_name = "Balance"  # the schema's component; "Output" alone would collide

    @extend_schema(responses=OutputSerializer, summary="The balance in credits")
    def get(self, request):
        return Response({"balance": selectors.balance_of(user=request.user)})


class LedgerListApi(ListAPIView):
    """The statement, newest first; filter by `kind`, `date_from`, `date_to` (YYYY-MM-DD)."""

    serializer_class = LedgerEntrySerializer
    filterset_class = LedgerFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is generated without a user
            return LedgerEntry.objects.none()
        return selectors.statement_entries(user=self.request.user)


class VoucherRedeemApi(APIView):
    throttle_classes = [UserRateThrottle, VoucherRedeemThrottle]

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=64)

        class Meta:
            ref_name = "VoucherRedeemRequest"

    class OutputSerializer(serializers.Serializer):
        credits = serializers.IntegerField(source="amount")
        balance = serializers.IntegerField(source="balance_after")
        entry = LedgerEntrySerializer(source="*")

        class Meta:
            ref_name = "VoucherRedemption"

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(
                description="`voucher_unknown`, `voucher_redeemed`, `voucher_expired` or "
                "`invalid_input`"
            ),
            429: OpenApiResponse(description="`throttled`: too many attempts"),
        },
        summary="Redeem a voucher code",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.redeem_voucher(user=request.user, code=data.validated_data["code"])
        return Response(self.OutputSerializer(entry).data, status=status.HTTP_201_CREATED)
