from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from processes.models import Project
from releases import selectors, services
from releases.api.serializers import (
    DeploymentCreateSerializer,
    DeploymentDetailSerializer,
    DeploymentSerializer,
    FreezeSerializer,
    InterruptionSerializer,
    InterruptionSubmitSerializer,
    InterruptionTakeSerializer,
    LogSerializer,
    ReleaseCreateSerializer,
    ReleaseDetailSerializer,
    ReleaseSerializer,
)
from releases.filters import MAX_ID, DeploymentFilter, InterruptionFilter, ReleaseFilter
from releases.models import (
    Approval,
    Deployment,
    DeploymentStep,
    Freeze,
    Interruption,
    Release,
    StepRun,
    TaskLogEntry,
)
from relman.api import IsSuperuser, error_responses
from relman.http import client_ip

# A log read returns at most this many entries; read on with ?after=<last id>.
LOG_BATCH = 1000


def _release_detail(release: Release, request) -> dict:
    release.progression = selectors.release_progression(release, request.user)
    return ReleaseDetailSerializer(release, context={"request": request}).data


# --- releases -------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        summary="List a project's releases, newest first",
        responses={200: ReleaseSerializer(many=True), **error_responses(404)},
    ),
    post=extend_schema(
        summary="Create a release (release creator)",
        request=ReleaseCreateSerializer,
        responses={201: ReleaseDetailSerializer, **error_responses(400, 403, 404, 409)},
    ),
)
class ProjectReleaseList(generics.ListCreateAPIView):
    """The releases of a project you can see. A new release snapshots the project's
    process as it is now."""

    serializer_class = ReleaseSerializer
    filterset_class = ReleaseFilter

    def get_project(self) -> Project:
        return get_object_or_404(
            Project.objects.visible_to(self.request.user), slug=self.kwargs["project_slug"]
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Release.objects.none()
        return Release.objects.filter(project=self.get_project()).select_related("project", "created_by")

    def create(self, request, *args, **kwargs):
        project = self.get_project()
        serializer = ReleaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        release = services.release_create(
            project=project, **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(_release_detail(release, request), status=status.HTTP_201_CREATED)


@extend_schema_view(
    retrieve=extend_schema(
        summary="Get a release with its lifecycle progression",
        responses={200: ReleaseDetailSerializer, **error_responses(404)},
    ),
)
class ReleaseViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReleaseDetailSerializer

    def get_queryset(self):
        return Release.objects.visible_to(self.request.user).select_related(
            "project__lifecycle", "created_by"
        )

    def retrieve(self, request, *args, **kwargs):
        return Response(_release_detail(self.get_object(), request))


# --- deployments ----------------------------------------------------------------------------


def _deployments(user):
    return Deployment.objects.visible_to(user).select_related("project", "environment", "created_by")


def _deployment_detail(user, pk: int) -> Deployment:
    latest_interruptions = Prefetch("interruptions", queryset=Interruption.objects.only("pk", "step_id"))
    steps = Prefetch(
        "steps",
        queryset=DeploymentStep.objects.select_related("release_step")
        .prefetch_related(
            latest_interruptions, Prefetch("runs", queryset=StepRun.objects.select_related("target"))
        )
        .order_by("position"),
    )
    return _deployments(user).prefetch_related(steps).get(pk=pk)


@extend_schema_view(
    get=extend_schema(
        summary="List a release's deployments, newest first",
        responses={200: DeploymentSerializer(many=True), **error_responses(404)},
    ),
    post=extend_schema(
        summary="Deploy the release to an environment (deployer)",
        request=DeploymentCreateSerializer,
        responses={201: DeploymentDetailSerializer, **error_responses(400, 403, 404, 409)},
    ),
)
class ReleaseDeploymentList(generics.ListCreateAPIView):
    """Deployments of a release. Deploying is refused with 409 and the lifecycle's reason
    when an earlier phase is not complete."""

    serializer_class = DeploymentSerializer

    def get_release(self) -> Release:
        return get_object_or_404(
            Release.objects.visible_to(self.request.user).select_related("project__lifecycle"),
            pk=self.kwargs["release_id"],
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Deployment.objects.none()
        return _deployments(self.request.user).filter(release=self.get_release())

    def create(self, request, *args, **kwargs):
        release = self.get_release()
        serializer = DeploymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deployment = services.deployment_create(
            release=release, **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        detail = _deployment_detail(request.user, deployment.pk)
        return Response(DeploymentDetailSerializer(detail).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="List deployments you can see, newest first",
        responses={200: DeploymentSerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary="Get a deployment with its steps",
        responses={200: DeploymentDetailSerializer, **error_responses(404)},
    ),
)
class DeploymentViewSet(viewsets.ReadOnlyModelViewSet):
    filterset_class = DeploymentFilter

    def get_queryset(self):
        return _deployments(self.request.user)

    def get_serializer_class(self):
        return DeploymentSerializer if self.action == "list" else DeploymentDetailSerializer

    def retrieve(self, request, *args, **kwargs):
        deployment = _deployment_detail(request.user, self.get_object().pk)
        return Response(DeploymentDetailSerializer(deployment).data)

    @extend_schema(
        summary="The deployment's task log, oldest first",
        parameters=[
            OpenApiParameter(
                "after",
                OpenApiTypes.INT,
                description=f"Only entries after this entry id (incremental reads); at most {LOG_BATCH} per call.",
            )
        ],
        filters=False,
        responses={200: LogSerializer, **error_responses(400, 404)},
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def log(self, request, pk=None):
        deployment = self.get_object()
        after = request.query_params.get("after", "0")
        # isascii(): str.isdigit() also accepts digits such as "²" that int() refuses; the
        # length first, as int() refuses more than 4,300 digits.
        if not (after.isascii() and after.isdigit()) or len(after) > len(str(MAX_ID)) or int(after) > MAX_ID:
            raise serializers.ValidationError({"after": ["A log entry id (a whole number)."]})
        entries = (
            TaskLogEntry.objects.filter(deployment=deployment, pk__gt=int(after))
            .select_related("step")
            .order_by("id")[:LOG_BATCH]
        )
        return Response(LogSerializer({"entries": entries}).data)

    @extend_schema(
        summary="Cancel the deployment (deployer)",
        request=None,
        filters=False,
        responses={200: DeploymentDetailSerializer, **error_responses(403, 404, 409)},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def cancel(self, request, pk=None):
        deployment = services.deployment_cancel(
            deployment=self.get_object(), actor=request.user, source_ip=client_ip(request)
        )
        return Response(DeploymentDetailSerializer(_deployment_detail(request.user, deployment.pk)).data)


# --- interruptions --------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List interruptions you can see, oldest first",
        responses={200: InterruptionSerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary="Get an interruption", responses={200: InterruptionSerializer, **error_responses(404)}
    ),
)
class InterruptionViewSet(viewsets.ReadOnlyModelViewSet):
    """Questions to a person raised by deployments: manual interventions and guided
    failures."""

    serializer_class = InterruptionSerializer
    filterset_class = InterruptionFilter

    def get_queryset(self):
        return (
            Interruption.objects.visible_to(self.request.user)
            .select_related(
                "deployment__project",
                "deployment__environment",
                "assignee",
                "submitted_by",
                "step__release_step",
            )
            .prefetch_related(
                "responsible_teams",
                Prefetch("approvals", Approval.objects.select_related("user")),
                Prefetch("step__runs", StepRun.objects.select_related("target").order_by("target__name")),
            )
            .order_by("created_at", "id")
        )

    @extend_schema(
        summary="Assign to me",
        request=InterruptionTakeSerializer,
        filters=False,
        responses={200: InterruptionSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def take(self, request, pk=None):
        """Take responsibility for the step; ``take_over`` takes it from whoever holds it;
        ``override`` with a ``reason`` lets a superuser outside the responsible teams act."""
        serializer = InterruptionTakeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        interruption = services.interruption_take(
            interruption=self.get_object(),
            **serializer.validated_data,
            actor=request.user,
            source_ip=client_ip(request),
        )
        return Response(self._read(interruption.pk))

    @extend_schema(
        summary="Proceed or abort (or retry, ignore, fail) with notes",
        request=InterruptionSubmitSerializer,
        filters=False,
        responses={200: InterruptionSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def submit(self, request, pk=None):
        """Answer the step: ``result`` for a manual intervention, ``guidance`` for a guided
        failure. Submitting one nobody holds takes it first when you may."""
        serializer = InterruptionSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        interruption = services.interruption_submit(
            interruption=self.get_object(),
            **serializer.validated_data,
            actor=request.user,
            source_ip=client_ip(request),
        )
        return Response(self._read(interruption.pk))

    @extend_schema(
        summary="Run the step's helper script (assignee)",
        request=None,
        filters=False,
        responses={202: InterruptionSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path="run-helper-script", filterset_class=None)
    def run_helper_script(self, request, pk=None):
        """Runs the manual step's helper script where a script step would run: on the
        targets with its roles, or on Relman's built-in runner. Accepted at once; follow
        ``helper_runs`` and the task log. When it ends, ``helper_output`` holds its output
        to use as notes; the step still waits for you to proceed or abort."""
        interruption = self.get_object()
        services.interruption_run_helper(
            interruption=interruption, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self._read(interruption.pk), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Stop the step's running helper script (assignee)",
        request=None,
        filters=False,
        responses={200: InterruptionSerializer, **error_responses(403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path="stop-helper-script", filterset_class=None)
    def stop_helper_script(self, request, pk=None):
        """Runs not started yet are cancelled at once; running ones stop when their runner
        next reports. The output up to then is offered as ``helper_output``."""
        interruption = self.get_object()
        services.interruption_stop_helper(
            interruption=interruption, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self._read(interruption.pk))

    def _read(self, pk: int) -> dict:
        return self.get_serializer(self.get_queryset().get(pk=pk)).data


# --- freezes --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List freezes (superuser)", responses={200: FreezeSerializer(many=True)}),
    retrieve=extend_schema(
        summary="Get a freeze (superuser)", responses={200: FreezeSerializer, **error_responses(403, 404)}
    ),
    create=extend_schema(
        summary="Create a freeze (superuser)", responses={201: FreezeSerializer, **error_responses(400, 403)}
    ),
    partial_update=extend_schema(
        summary="Change a freeze (superuser)",
        responses={200: FreezeSerializer, **error_responses(400, 403, 404)},
    ),
    destroy=extend_schema(
        summary="Delete a freeze (superuser)", responses={204: None, **error_responses(403, 404)}
    ),
)
class FreezeViewSet(viewsets.ModelViewSet):
    """Times when deployments to some environments are refused (and scheduled ones wait)."""

    queryset = Freeze.objects.prefetch_related("environments", "projects").order_by("start", "id")
    serializer_class = FreezeSerializer
    permission_classes = [IsSuperuser]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        freeze = services.freeze_create(
            **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(freeze).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        freeze = self.get_object()
        serializer = self.get_serializer(freeze, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        freeze = services.freeze_update(
            freeze=freeze, **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(freeze).data)

    def destroy(self, request, *args, **kwargs):
        services.freeze_delete(freeze=self.get_object(), actor=request.user, source_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
