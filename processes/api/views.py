from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from processes import library, services
from processes.api.serializers import (
    AutomateStepSerializer,
    ChecklistImportSerializer,
    ChecklistResultSerializer,
    ProcessSerializer,
    ProjectSerializer,
    StepTemplateSerializer,
)
from processes.models import Project, StepTemplate
from relman.api import DocumentJSONParser, IsSuperuserOrReadOnly, YAMLParser, YAMLRenderer, error_responses
from relman.http import client_ip
from teams import permissions


@extend_schema_view(
    list=extend_schema(summary="List the projects you can see"),
    retrieve=extend_schema(
        summary="Get a project", responses={200: ProjectSerializer, **error_responses(404)}
    ),
    create=extend_schema(
        summary="Create a project (superuser)",
        responses={201: ProjectSerializer, **error_responses(400, 403, 409)},
    ),
    partial_update=extend_schema(
        summary="Change a project (project editor)",
        responses={200: ProjectSerializer, **error_responses(400, 403, 404, 409)},
    ),
)
class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Projects, by slug, scoped to what you can see (others are 404)."""

    serializer_class = ProjectSerializer
    lookup_field = "slug"
    # PUT is only the process document's, DELETE only a step's; the project itself is
    # changed with PATCH.
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return Project.objects.visible_to(self.request.user).select_related("group", "lifecycle")

    def create(self, request, *args, **kwargs):
        if not request.user.is_superuser:
            raise exceptions.PermissionDenied("Only superusers may create projects.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_create(
            **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(project).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        project = self._editable_project()
        serializer = self.get_serializer(project, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = services.project_update(
            project=project, **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(project).data)

    @extend_schema(
        methods=["GET"],
        summary="The project's process as one document",
        responses={200: ProcessSerializer, **error_responses(404)},
    )
    @extend_schema(
        methods=["PUT"],
        summary="Replace the project's process (project editor)",
        request=ProcessSerializer,
        responses={200: ProcessSerializer, **error_responses(400, 403, 404)},
    )
    @action(
        detail=True,
        methods=["get", "put"],
        parser_classes=[DocumentJSONParser, YAMLParser],
        renderer_classes=[*api_settings.DEFAULT_RENDERER_CLASSES, YAMLRenderer],
    )
    def process(self, request, slug=None):
        """The ordered steps as ``{"steps": [...]}``; also as YAML with
        ``Accept``/``Content-Type: application/yaml`` (the import/export format)."""
        if request.method == "PUT":
            project = self._editable_project()
            serializer = ProcessSerializer(data=request.data, context={"project": project})
            serializer.is_valid(raise_exception=True)
            services.process_replace(
                project=project,
                steps=serializer.validated_data["steps"],
                actor=request.user,
                source_ip=client_ip(request),
            )
        else:
            project = self.get_object()
        return Response(ProcessSerializer({"steps": services.process_steps(project)}).data)

    @extend_schema(
        summary="Turn a pasted checklist into the project's process (project editor)",
        request=ChecklistImportSerializer,
        responses={200: ChecklistResultSerializer, **error_responses(400, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="process/import-checklist")
    def import_checklist(self, request, slug=None):
        """A Markdown table (``| Step | Title | Who |``) or a numbered or bulleted list
        (``1. Backup the database (DBA)``) becomes manual steps, teams matched by name.
        ``dry_run`` returns the process document it would make and the unmatched names;
        otherwise the process is replaced in one audited change."""
        project = self._editable_project()
        serializer = ChecklistImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["dry_run"]:
            result = services.checklist_read(markdown=data["markdown"])
            return Response(ChecklistResultSerializer(result).data)
        result = services.process_import_checklist(
            project=project,
            markdown=data["markdown"],
            create_missing_teams=data["create_missing_teams"],
            actor=request.user,
            source_ip=client_ip(request),
        )
        return Response(
            {
                "steps": ProcessSerializer({"steps": services.process_steps(project)}).data["steps"],
                "unmatched": result.unmatched,
            }
        )

    @extend_schema(
        summary="Automate a step: its helper script becomes a script step (project editor)",
        request=AutomateStepSerializer,
        responses={200: ProcessSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path=r"process/steps/(?P<position>\d+)/automate")
    def automate_step(self, request, slug=None, position=None):
        """The manual step at ``position`` (from 1, in process order) with a helper script
        becomes a script step running it; with ``keep_check`` a manual "Check: <name>" step
        follows. Answers with the new process document; releases already made keep theirs."""
        project = self._editable_project()
        serializer = AutomateStepSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.step_automate(
            project=project,
            position=int(position),
            keep_check=serializer.validated_data["keep_check"],
            actor=request.user,
            source_ip=client_ip(request),
        )
        return Response(ProcessSerializer({"steps": services.process_steps(project)}).data)

    @extend_schema(
        summary="Remove a step from the process (project editor)",
        request=None,
        responses={200: ProcessSerializer, **error_responses(400, 403, 404)},
    )
    @action(detail=True, methods=["delete"], url_path=r"process/steps/(?P<position>\d+)")
    def remove_step(self, request, slug=None, position=None):
        """The step at ``position`` (from 1, in process order) leaves the process; answers
        with the new process document. Releases already made keep theirs."""
        project = self._editable_project()
        services.step_remove(
            project=project, position=int(position), actor=request.user, source_ip=client_ip(request)
        )
        return Response(ProcessSerializer({"steps": services.process_steps(project)}).data)

    def finalize_response(self, request, response, *args, **kwargs):
        # A refusal is the error model in JSON, as the schema declares, even when the
        # process document was asked for as YAML.
        if getattr(response, "exception", False):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def _editable_project(self) -> Project:
        project = self.get_object()
        if not permissions.can_edit_process(self.request.user, project):
            raise exceptions.PermissionDenied(f"You need the project editor role on {project} to change it.")
        return project


@extend_schema_view(
    list=extend_schema(summary="List the step templates"),
    retrieve=extend_schema(
        summary="Get a step template", responses={200: StepTemplateSerializer, **error_responses(404)}
    ),
    create=extend_schema(
        summary="Create a step template (superuser)",
        responses={201: StepTemplateSerializer, **error_responses(400, 403, 409)},
    ),
    update=extend_schema(
        summary="Replace a step template; a change raises its version (superuser)",
        responses={200: StepTemplateSerializer, **error_responses(400, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Delete a step template no step uses (superuser)",
        responses={204: None, **error_responses(403, 404, 409)},
    ),
)
class StepTemplateViewSet(viewsets.ModelViewSet):
    """The step template library, by id. Everyone signed in reads it; superusers change it.
    Steps use a template through the process document's ``template`` and ``parameters``."""

    queryset = StepTemplate.objects.all()
    serializer_class = StepTemplateSerializer
    permission_classes = [IsSuperuserOrReadOnly]
    http_method_names = ["get", "post", "put", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = library.step_template_create(
            **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(template).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        template = self.get_object()
        serializer = self.get_serializer(template, data=request.data)
        serializer.is_valid(raise_exception=True)
        template = library.step_template_update(
            template=template, **serializer.validated_data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(template).data)

    def destroy(self, request, *args, **kwargs):
        library.step_template_delete(
            template=self.get_object(), actor=request.user, source_ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
