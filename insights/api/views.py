from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from insights import selectors
from insights.api.serializers import (
    InsightsQuerySerializer,
    OverviewSerializer,
    ProjectInsightsSerializer,
    WindowQuerySerializer,
)
from processes.models import Project
from relman.api import error_responses


class ProjectInsightsView(APIView):
    """Which steps cost people most time, and how often each environment is deployed."""

    @extend_schema(
        summary="A project's step figures, steps to automate next and DORA figures",
        parameters=[InsightsQuerySerializer],
        responses={200: ProjectInsightsSerializer, **error_responses(400, 404)},
    )
    def get(self, request, project_slug: str):
        project = get_object_or_404(Project.objects.visible_to(request.user), slug=project_slug)
        query = InsightsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        insights = selectors.project_insights(request.user, project, **query.validated_data)
        return Response(ProjectInsightsSerializer(insights).data)


class OverviewView(APIView):
    """The manual steps to automate next, ranked across every project you can see."""

    @extend_schema(
        summary="The steps to automate next across every project you can see",
        parameters=[WindowQuerySerializer],
        responses={200: OverviewSerializer, **error_responses(400)},
    )
    def get(self, request):
        query = WindowQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        candidates = selectors.overview(request.user, days=query.validated_data["days"])
        return Response(OverviewSerializer({"automate_next": candidates}).data)
