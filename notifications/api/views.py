from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from notifications import selectors, services
from notifications.api.serializers import (
    DeliverySerializer,
    WebhookCreatedSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)
from notifications.models import Webhook
from relman.api import error_responses
from relman.http import client_ip


class IsSuperuser(permissions.BasePermission):
    """Webhooks are read and changed by superusers only: a receiver's URL is often itself
    a credential (a Slack incoming webhook's is)."""

    message = "Only superusers may manage webhooks."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_active and request.user.is_superuser)


@extend_schema_view(
    list=extend_schema(summary="List webhooks (superuser)"),
    retrieve=extend_schema(
        summary="Get a webhook (superuser)", responses={200: WebhookSerializer, **error_responses(403, 404)}
    ),
    create=extend_schema(
        summary="Create a webhook; the answer shows its secret, once (superuser)",
        responses={201: WebhookCreatedSerializer, **error_responses(400, 403)},
    ),
    partial_update=extend_schema(
        summary="Change a webhook (superuser)",
        request=WebhookUpdateSerializer,
        responses={200: WebhookSerializer, **error_responses(400, 403, 404)},
    ),
    destroy=extend_schema(
        summary="Delete a webhook and its deliveries (superuser)",
        responses={204: None, **error_responses(403, 404)},
    ),
)
class WebhookViewSet(viewsets.ModelViewSet):
    """Webhooks: where Relman POSTs its events, signed with each webhook's secret."""

    queryset = Webhook.objects.prefetch_related("projects", "environments")
    serializer_class = WebhookSerializer
    permission_classes = [IsSuperuser]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, secret = services.webhook_create(
            **serializer.validated_data,
            actor=request.user,
            source_ip=client_ip(request),
            server_host=request.get_host(),
        )
        data = WebhookCreatedSerializer(webhook).data | {"secret": secret}
        return Response(data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        webhook = self.get_object()
        serializer = WebhookUpdateSerializer(webhook, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_update(
            webhook=webhook,
            **serializer.validated_data,
            actor=request.user,
            source_ip=client_ip(request),
            server_host=request.get_host(),
        )
        return Response(self.get_serializer(webhook).data)

    def destroy(self, request, *args, **kwargs):
        services.webhook_delete(webhook=self.get_object(), actor=request.user, source_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The webhook's deliveries, newest first, with every attempt (superuser)",
        responses={200: DeliverySerializer(many=True), **error_responses(403, 404)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(selectors.delivery_list(webhook=self.get_object()))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)
