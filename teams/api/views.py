from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from relman.api import IsSuperuserOrReadOnly, error_responses
from relman.http import client_ip
from teams import services
from teams.api import schema  # noqa: F401  (registers the API key scheme with the schema)
from teams.api.serializers import (
    AuditEventSerializer,
    MeSerializer,
    TeamSerializer,
    UserCreateSerializer,
    UserSerializer,
)
from teams.audit import audit_events_visible_to, can_read_audit_trail
from teams.filters import AuditEventFilter
from teams.models import RoleGrant, Team, User

_GRANTS = Prefetch(
    "roles", queryset=RoleGrant.objects.prefetch_related("project_groups", "projects", "environments")
)


@extend_schema_view(
    list=extend_schema(summary="List users"),
    retrieve=extend_schema(summary="Get a user", responses={200: UserSerializer, **error_responses(404)}),
    create=extend_schema(
        summary="Create a user (superuser)",
        request=UserCreateSerializer,
        responses={201: UserSerializer, **error_responses(400, 403, 409)},
    ),
)
class UserViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Users, by username. Everyone signed in reads them (email and superuser flag: superusers
    only); superusers create them."""

    queryset = User.objects.prefetch_related("teams").order_by("username")
    serializer_class = UserSerializer
    permission_classes = [IsSuperuserOrReadOnly]
    lookup_field = "username"
    lookup_value_regex = "[^/]+"

    def create(self, request, *args, **kwargs):
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_create(
            **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(
            UserSerializer(user, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


@extend_schema_view(
    list=extend_schema(summary="List teams with their members and role grants"),
    retrieve=extend_schema(summary="Get a team", responses={200: TeamSerializer, **error_responses(404)}),
    create=extend_schema(
        summary="Create a team (superuser)", responses={201: TeamSerializer, **error_responses(400, 403, 409)}
    ),
    partial_update=extend_schema(
        summary="Change a team; members and roles, when given, are replaced (superuser)",
        responses={200: TeamSerializer, **error_responses(400, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Delete a team that is responsible for no step (superuser)",
        responses={204: None, **error_responses(403, 404, 409)},
    ),
)
class TeamViewSet(viewsets.ModelViewSet):
    """Teams, by id. Everyone signed in reads them; superusers change them."""

    queryset = Team.objects.prefetch_related("members", _GRANTS)
    serializer_class = TeamSerializer
    permission_classes = [IsSuperuserOrReadOnly]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = services.team_create(
            **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self._read(team.pk), status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        team = self.get_object()
        serializer = self.get_serializer(team, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.team_update(
            team=team, **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self._read(team.pk))

    def destroy(self, request, *args, **kwargs):
        services.team_delete(team=self.get_object(), actor=request.user, source_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _read(self, pk: int) -> dict:
        return self.get_serializer(self.get_queryset().get(pk=pk)).data


class MeView(APIView):
    """The caller, the teams they are in, and every role grant those teams hold."""

    @extend_schema(summary="Who am I", responses={200: MeSerializer})
    def get(self, request):
        user = request.user
        grants = (
            RoleGrant.objects.filter(team__members=user)
            .select_related("team")
            .prefetch_related("project_groups", "projects", "environments")
            .order_by("team__name", "role", "id")
        )
        me = {
            "username": user.username,
            "display_name": user.display_name,
            "email": user.email,
            "is_superuser": user.is_superuser,
            "teams": user.teams.order_by("name"),
            "roles": grants,
        }
        return Response(MeSerializer(me).data)


class CanReadAuditTrail(permissions.BasePermission):
    message = "Only superusers and auditors may read the audit trail."

    def has_permission(self, request, view) -> bool:
        return can_read_audit_trail(request.user)


@extend_schema_view(
    list=extend_schema(
        summary="The audit trail, newest first (superuser or auditor)",
        responses={200: AuditEventSerializer(many=True), **error_responses(400, 403)},
    ),
    retrieve=extend_schema(
        summary="One audit event (superuser or auditor)",
        responses={200: AuditEventSerializer, **error_responses(403, 404)},
    ),
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Every change of configuration and every action on releases, deployments and
    interventions. Read-only: the trail is append-only. Superusers read all of it; an
    auditor reads the events in the scope of their auditor role."""

    serializer_class = AuditEventSerializer
    permission_classes = [CanReadAuditTrail]
    filterset_class = AuditEventFilter

    def get_queryset(self):
        return (
            audit_events_visible_to(self.request.user)
            .select_related("actor", "project", "environment")
            .order_by("-id")
        )
