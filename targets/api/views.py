from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from relman.api import IsSuperuserOrReadOnly, error_responses
from relman.http import client_ip
from targets import services
from targets.api import schema  # noqa: F401  (registers the agent token scheme with the schema)
from targets.api.serializers import AgentTokenSerializer, TargetCreatedSerializer, TargetSerializer
from targets.models import Target


@extend_schema_view(
    list=extend_schema(summary="List the targets of environments you may see"),
    retrieve=extend_schema(summary="Get a target", responses={200: TargetSerializer, **error_responses(404)}),
    create=extend_schema(
        summary="Create a target (superuser); its agent token is in this answer only",
        responses={201: TargetCreatedSerializer, **error_responses(400, 403, 409)},
    ),
    partial_update=extend_schema(
        summary="Change a target (superuser)",
        responses={200: TargetSerializer, **error_responses(400, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Delete a target that never ran a step (superuser)",
        responses={204: None, **error_responses(403, 404, 409)},
    ),
)
class TargetViewSet(viewsets.ModelViewSet):
    """Deployment targets, by slug. Viewers see the targets of the environments their
    grants cover (others are 404); superusers change them."""

    serializer_class = TargetSerializer
    permission_classes = [IsSuperuserOrReadOnly]
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return Target.objects.visible_to(self.request.user).prefetch_related("environments")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target, token = services.target_create(
            **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        target.agent_token = token
        return Response(TargetCreatedSerializer(target).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        target = self.get_object()
        serializer = self.get_serializer(target, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        target = services.target_update(
            target=target, **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=target.pk)).data)

    def destroy(self, request, *args, **kwargs):
        services.target_delete(target=self.get_object(), actor=request.user, source_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Give the target a new agent token (superuser); the old one stops working at once",
        request=None,
        responses={200: AgentTokenSerializer, **error_responses(403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request, slug=None):
        token = services.target_rotate_token(
            target=self.get_object(), actor=request.user, source_ip=client_ip(request)
        )
        return Response({"agent_token": token})
