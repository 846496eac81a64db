"""The agent protocol (SPEC §9), under ``/api/v1/agent/``: what ``relman-agent`` on a
target calls, authenticated by the target's agent token alone.

1. ``claim/`` long-polls for the next run of the target: a job, or 204 after up to a
   quarter of RELMAN_AGENT_OFFLINE_AFTER_SECONDS (so an idle agent stays online).
2. ``runs/<id>/report/`` sends output lines, or none as a heartbeat; the answer says
   whether to stop (the deployment was cancelled).
3. ``runs/<id>/finish/`` reports the exit code (and the tail of a long output); repeating
   it is harmless, so the agent retries until it is acknowledged.
"""

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from releases import services
from releases.choices import LogLevel
from relman.api import error_responses
from targets.authentication import AgentTokenAuthentication
from targets.models import Target


class IsAgent(permissions.BasePermission):
    message = "The agent endpoints take a target's agent token, not an API key or a session."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, Target)


class AgentView(APIView):
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsAgent]
    # An agent reports every second while it runs a script; it is limited by its target.
    throttle_classes: list = []


class ClaimSerializer(serializers.Serializer):
    hostname = serializers.CharField(max_length=255, allow_blank=True, default="")
    version = serializers.CharField(max_length=50, allow_blank=True, default="")
    wait = serializers.FloatField(
        min_value=0, required=False, help_text="Seconds to wait for a run; the server caps it."
    )


class JobSerializer(serializers.Serializer):
    run = serializers.IntegerField(source="run.pk", help_text="The run's id, for report/ and finish/.")
    attempt = serializers.IntegerField(source="run.attempt", help_text="Sent back with every report.")
    target = serializers.CharField(source="run.target.name")
    step = serializers.CharField(source="run.step.title")
    script = serializers.CharField(help_text="Bash.")
    variables = serializers.DictField(child=serializers.CharField(), help_text="The script's environment.")
    timeout_seconds = serializers.IntegerField()
    output_max_lines = serializers.SerializerMethodField(help_text="Lines of a run the task log keeps.")
    output_tail_lines = serializers.SerializerMethodField(
        help_text="Of those, the last ones, sent with finish/."
    )
    line_max_chars = serializers.SerializerMethodField(help_text="Longer lines are cut, with a marker.")

    def get_output_max_lines(self, job) -> int:
        return settings.RELMAN_AGENT_OUTPUT_MAX_LINES

    def get_output_tail_lines(self, job) -> int:
        return settings.RELMAN_AGENT_OUTPUT_TAIL_LINES

    def get_line_max_chars(self, job) -> int:
        return settings.RELMAN_AGENT_LINE_MAX_CHARS


class LineSerializer(serializers.Serializer):
    level = serializers.ChoiceField(
        choices=[LogLevel.INFO, LogLevel.ERROR],
        default=LogLevel.INFO,
        help_text="info: stdout, error: stderr.",
    )
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ReportSerializer(serializers.Serializer):
    attempt = serializers.IntegerField(min_value=1)
    lines = LineSerializer(many=True, default=list, help_text=f"At most {services.AGENT_REPORT_MAX_LINES}.")


class ReportAnswerSerializer(serializers.Serializer):
    stop = serializers.BooleanField(help_text="True: the run is no longer wanted; stop the script.")


class FinishSerializer(serializers.Serializer):
    attempt = serializers.IntegerField(min_value=1)
    exit_code = serializers.IntegerField(allow_null=True, help_text="null when the script could not start.")
    timed_out = serializers.BooleanField(default=False)
    cancelled = serializers.BooleanField(default=False, help_text="Stopped because report/ said stop.")
    tail = LineSerializer(many=True, default=list, help_text="The last lines of an output past the limit.")
    omitted = serializers.IntegerField(
        min_value=0, default=0, help_text="Lines neither reported nor in tail."
    )


def _lines(lines: list[dict]) -> list[tuple[str, str]]:
    return [(line["level"], line["text"]) for line in lines]


class ClaimView(AgentView):
    @extend_schema(
        tags=["agent"],
        summary="Wait for the next run of the agent's target and claim it",
        request=ClaimSerializer,
        responses={200: JobSerializer, 204: None, **error_responses(400)},
    )
    def post(self, request):
        serializer = ClaimSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        longest = settings.RELMAN_AGENT_OFFLINE_AFTER_SECONDS / 4
        data = serializer.validated_data
        job = services.agent_claim(
            target=request.user,
            hostname=data["hostname"],
            agent_version=data["version"],
            wait_seconds=min(data.get("wait", longest), longest),
        )
        if job is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(JobSerializer(job).data)


class ReportView(AgentView):
    @extend_schema(
        tags=["agent"],
        summary="Send a held run's output lines, or none as a heartbeat",
        request=ReportSerializer,
        responses={200: ReportAnswerSerializer, **error_responses(400, 404, 409)},
    )
    def post(self, request, run_id: int):
        serializer = ReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        wanted = services.agent_report(
            target=request.user, run_id=run_id, attempt=data["attempt"], lines=_lines(data["lines"])
        )
        return Response({"stop": not wanted})


class FinishView(AgentView):
    @extend_schema(
        tags=["agent"],
        summary="Report how a held run ended (idempotent)",
        request=FinishSerializer,
        responses={204: None, **error_responses(400, 404, 409)},
    )
    def post(self, request, run_id: int):
        serializer = FinishSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.agent_finish(
            target=request.user,
            run_id=run_id,
            attempt=data["attempt"],
            exit_code=data["exit_code"],
            timed_out=data["timed_out"],
            cancelled=data["cancelled"],
            tail=_lines(data["tail"]),
            omitted=data["omitted"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("agent/claim/", ClaimView.as_view(), name="agent-claim"),
    path("agent/runs/<int:run_id>/report/", ReportView.as_view(), name="agent-report"),
    path("agent/runs/<int:run_id>/finish/", FinishView.as_view(), name="agent-finish"),
]
