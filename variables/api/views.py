from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from processes.models import Project
from relman.api import DocumentJSONParser, error_responses
from relman.http import client_ip
from variables import selectors, services
from variables.api.serializers import LibrarySetSerializer, ProjectVariablesSerializer, specs
from variables.models import LibraryVariableSet


class ProjectVariables(APIView):
    """A project's variables and the library sets it includes, as one document. Everyone
    who sees the project reads it (sensitive values never); project editors replace it."""

    parser_classes = [DocumentJSONParser]

    def _project(self) -> Project:
        return get_object_or_404(Project.objects.visible_to(self.request.user), slug=self.kwargs["slug"])

    @extend_schema(
        summary="A project's variables", responses={200: ProjectVariablesSerializer, **error_responses(404)}
    )
    def get(self, request, slug):
        return Response(_document(self._project()))

    @extend_schema(
        summary="Replace a project's variables (project editor)",
        request=ProjectVariablesSerializer,
        responses={200: ProjectVariablesSerializer, **error_responses(400, 403, 404)},
    )
    def put(self, request, slug):
        project = self._project()
        serializer = ProjectVariablesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.project_variables_replace(
            project=project,
            variables=specs(serializer.validated_data["variables"]),
            library_sets=serializer.validated_data["library_sets"],
            actor=request.user,
            source_ip=client_ip(request),
        )
        return Response(_document(project))


def _document(project: Project) -> dict:
    return ProjectVariablesSerializer(
        {"variables": selectors.owned_by(project=project), "library_sets": selectors.included_sets(project)}
    ).data


@extend_schema_view(
    list=extend_schema(summary="List the library variable sets"),
    retrieve=extend_schema(
        summary="Get a library variable set", responses={200: LibrarySetSerializer, **error_responses(404)}
    ),
    create=extend_schema(
        summary="Create a library variable set (superuser)",
        responses={201: LibrarySetSerializer, **error_responses(400, 403, 409)},
    ),
    update=extend_schema(
        summary="Replace a library variable set (superuser)",
        responses={200: LibrarySetSerializer, **error_responses(400, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Delete a library variable set no project includes (superuser)",
        responses={204: None, **error_responses(403, 404, 409)},
    ),
)
class LibrarySetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Variables shared by the projects that include them; sensitive values never read back."""

    serializer_class = LibrarySetSerializer
    parser_classes = [DocumentJSONParser]
    http_method_names = ["get", "post", "put", "delete", "head", "options"]
    queryset = LibraryVariableSet.objects.prefetch_related("variables__environments")

    def create(self, request, *args, **kwargs):
        data = self._validated()
        library_set = services.library_set_create(**data, actor=request.user, source_ip=client_ip(request))
        return Response(self.get_serializer(self._fresh(library_set)).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        library_set = self.get_object()
        data = self._validated()
        services.library_set_update(
            library_set=library_set, **data, actor=request.user, source_ip=client_ip(request)
        )
        return Response(self.get_serializer(self._fresh(library_set)).data)

    def destroy(self, request, *args, **kwargs):
        services.library_set_delete(
            library_set=self.get_object(), actor=request.user, source_ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _validated(self) -> dict:
        if not self.request.user.is_superuser:
            raise exceptions.PermissionDenied("Only superusers may change library variable sets.")
        serializer = self.get_serializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return {**serializer.validated_data, "variables": specs(serializer.validated_data["variables"])}

    def _fresh(self, library_set: LibraryVariableSet) -> LibraryVariableSet:
        return self.get_queryset().get(pk=library_set.pk)
