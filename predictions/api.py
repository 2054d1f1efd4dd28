from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView

from . import selectors
from .models import MLModel


def _language() -> str:
    return "ru" if (get_language() or "").startswith("ru") else "en"


class CatalogModelSerializer(serializers.ModelSerializer):
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.IntegerField(source="default_version.number")
    price_per_row = serializers.IntegerField(source="default_version.price_per_row")
    headline_metric = serializers.JSONField(source="default_version.headline")

    class Meta:
        model = MLModel
        fields = [
            "slug",
            "name",
            "description",
            "task",
            "version",
            "price_per_row",
            "headline_metric",
        ]


class CatalogModelDetailSerializer(CatalogModelSerializer):
    target = serializers.CharField(source="default_version.target")
    classes = serializers.JSONField(source="default_version.classes")
    metrics = serializers.JSONField(source="default_version.metrics")
    schema = serializers.SerializerMethodField()

    class Meta(CatalogModelSerializer.Meta):
        fields = [*CatalogModelSerializer.Meta.fields, "target", "classes", "metrics", "schema"]

    def get_schema(self, model: MLModel) -> list[dict]:
        """The input columns, described in the request's language."""
        language = _language()
        columns = []
        for column in model.default_version.input_schema.columns:
            data = column.to_dict()
            data["description"] = column.describe(language)
            columns.append(data)
        return columns


class ModelListApi(ListAPIView):
    """The catalog: published models with their price per row and headline metric. Names
    and descriptions follow Accept-Language (en, ru)."""

    serializer_class = CatalogModelSerializer

    def get_queryset(self):
        return selectors.catalog()


class ModelDetailApi(RetrieveAPIView):
    serializer_class = CatalogModelDetailSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return selectors.catalog()

    @extend_schema(summary="One model: schema, price, metrics")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
