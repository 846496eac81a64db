from rest_framework import serializers

from insights.selectors import DEFAULT_DAYS, MAX_DAYS
from lifecycles.api.fields import EnvironmentSlugField


class WindowQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=MAX_DAYS, default=DEFAULT_DAYS, help_text="The window: the last N days."
    )


class InsightsQuerySerializer(WindowQuerySerializer):
    environment = EnvironmentSlugField(required=False, help_text="Only this environment's deployments.")


class StepFiguresSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The step's name in the snapshot its runs were made from.")
    automation_level = serializers.IntegerField(
        help_text="1 manual, 2 manual with a helper script, 3 script."
    )
    runs = serializers.IntegerField()
    median_wait_seconds = serializers.IntegerField(
        allow_null=True, help_text="Median time from an interruption raised to taken."
    )
    median_work_seconds = serializers.IntegerField(
        allow_null=True, help_text="Median time from an interruption taken to submitted."
    )
    aborts = serializers.IntegerField()
    failures = serializers.IntegerField()
    human_seconds = serializers.IntegerField(help_text="Every wait and work of the step, summed.")


class CandidateSerializer(serializers.Serializer):
    step = serializers.CharField()
    human_seconds = serializers.IntegerField()
    reason = serializers.CharField()


class OverviewCandidateSerializer(CandidateSerializer):
    project = serializers.SlugField(source="project.slug", help_text="The project's slug.")


class EnvironmentFiguresSerializer(serializers.Serializer):
    deployments = serializers.IntegerField(help_text="Deployments created in the window.")
    frequency_per_week = serializers.FloatField()
    lead_time_median_seconds = serializers.IntegerField(
        allow_null=True, help_text="Release created → success in this environment; median."
    )
    change_failure_rate = serializers.FloatField(allow_null=True, help_text="Failed ÷ (succeeded + failed).")
    time_to_restore_median_seconds = serializers.IntegerField(
        allow_null=True, help_text="A failed deployment → the next success here; median."
    )


class ProjectInsightsSerializer(serializers.Serializer):
    steps = StepFiguresSerializer(many=True)
    automate_next = CandidateSerializer(many=True)
    dora = serializers.SerializerMethodField()

    def get_dora(self, insights) -> dict[str, dict]:
        return {
            figures.environment.slug: EnvironmentFiguresSerializer(figures).data for figures in insights.dora
        }


class OverviewSerializer(serializers.Serializer):
    automate_next = OverviewCandidateSerializer(many=True)
