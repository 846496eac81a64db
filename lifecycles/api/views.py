from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response

from lifecycles import services
from lifecycles.api.serializers import EnvironmentSerializer, LifecycleSerializer
from lifecycles.models import Environment, Lifecycle, Phase
from relman.api import IsSuperuserOrReadOnly, error_responses
from relman.http import client_ip


@extend_schema_view(
    list=extend_schema(summary="List environments"),
    retrieve=extend_schema(
        summary="Get an environment", responses={200: EnvironmentSerializer, **error_responses(404)}
    ),
    create=extend_schema(
        summary="Create an environment (superuser)",
        responses={201: EnvironmentSerializer, **error_responses(400, 403, 409)},
    ),
    partial_update=extend_schema(
        summary="Change an environment (superuser)",
        responses={200: EnvironmentSerializer, **error_responses(400, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Delete an environment nothing uses (superuser)",
        responses={204: None, **error_responses(403, 404, 409)},
    ),
)
class EnvironmentViewSet(viewsets.ModelViewSet):
    """Environments, by slug. Everyone signed in reads them; superusers change them."""

    queryset = Environment.objects.all()
    serializer_class = EnvironmentSerializer
    permission_classes = [IsSuperuserOrReadOnly]
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        environment = services.environment_create(
            **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(environment).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        environment = self.get_object()
        serializer = self.get_serializer(environment, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        environment = services.environment_update(
            environment=environment,
            **serializer.validated_data,
            actor=request.user,
            source_ip=client_ip(request),
        )
        return Response(self.get_serializer(environment).data)

    def destroy(self, request, *args, **kwargs):
        services.environment_delete(
            environment=self.get_object(), actor=request.user, source_ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List lifecycles with their phases"),
    retrieve=extend_schema(
        summary="Get a lifecycle", responses={200: LifecycleSerializer, **error_responses(404)}
    ),
    create=extend_schema(
        summary="Create a lifecycle with its phases (superuser)",
        responses={201: LifecycleSerializer, **error_responses(400, 403, 409)},
    ),
    partial_update=extend_schema(
        summary="Change a lifecycle; phases, when given, replace every phase (superuser)",
        responses={200: LifecycleSerializer, **error_responses(400, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Delete a lifecycle no project uses (superuser)",
        responses={204: None, **error_responses(403, 404, 409)},
    ),
)
class LifecycleViewSet(viewsets.ModelViewSet):
    """Lifecycles with their ordered phases. Everyone signed in reads them; superusers
    change them."""

    queryset = Lifecycle.objects.prefetch_related(
        Prefetch(
            "phases",
            queryset=Phase.objects.order_by("position", "id").prefetch_related(
                "phase_environments__environment"
            ),
        )
    )
    serializer_class = LifecycleSerializer
    permission_classes = [IsSuperuserOrReadOnly]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lifecycle = services.lifecycle_create(
            **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self._read(lifecycle.pk), status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        lifecycle = self.get_object()
        serializer = self.get_serializer(lifecycle, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.lifecycle_update(
            lifecycle=lifecycle, **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self._read(lifecycle.pk))

    def destroy(self, request, *args, **kwargs):
        services.lifecycle_delete(
            lifecycle=self.get_object(), actor=request.user, source_ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _read(self, pk: int) -> dict:
        return self.get_serializer(self.get_queryset().get(pk=pk)).data
