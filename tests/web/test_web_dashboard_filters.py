"""The dashboard remembers each user's filters: chosen in its form (a POST), they come back
when the user opens the dashboard without any, after signing out and in again too, until
cleared (a POST too). A GET only shows: whatever its parameters, it writes nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from releases.models import DashboardPreference

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("dashboard")
FILTERS = reverse("releases:dashboard_filters")


def manual_deployment_row(html: str) -> bool:
    return ">Manual Deployment</a>" in html


def goodhealth_row(html: str) -> bool:
    return ">GoodHealth</a>" in html


def preferences() -> list[tuple]:
    return list(
        DashboardPreference.objects.order_by("pk").values_list(
            "pk", "user_id", "group_ids", "project_ids", "environment_ids"
        )
    )


def test_filtering_remembers_the_filters_and_shows_them(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    # the filter form sends every select, "All" being an empty value
    response = client.post(FILTERS, {"group": "", "project": goodhealth.project.pk, "environment": ""})
    assert response.status_code == 302
    assert response["Location"] == f"{DASHBOARD}?project={goodhealth.project.pk}"
    html = client.get(response["Location"]).content.decode()
    assert goodhealth_row(html) and not manual_deployment_row(html)
    preference = DashboardPreference.objects.get(user=sarah)
    assert preference.project_ids == [goodhealth.project.pk]
    assert preference.group_ids == [] and preference.environment_ids == []


def test_remembered_filters_come_back_on_the_bare_dashboard(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    client.post(FILTERS, {"project": goodhealth.project.pk})
    html = client.get(DASHBOARD).content.decode()
    assert goodhealth_row(html) and not manual_deployment_row(html)
    assert f'<option value="{goodhealth.project.pk}" selected>GoodHealth</option>' in html
    assert "Showing the filters you chose last time." in html
    assert (
        '<button type="submit" name="clear" value="1" class="button button--link">Clear filters</button>'
        in html
    )


def test_the_filter_form_posts_with_a_csrf_token(signed_in, sarah, waiting):
    html = signed_in(sarah).get(DASHBOARD).content.decode()
    assert f'<form method="post" action="{FILTERS}" class="filters"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_remembered_filters_survive_signing_out_and_in(client, sarah, waiting):
    sarah.set_password("s3cret-pass")
    sarah.save()
    manual_test = waiting.environment
    assert client.post(reverse("login"), {"username": "sarah", "password": "s3cret-pass"}).status_code == 302
    client.post(FILTERS, {"environment": manual_test.pk})
    client.post(reverse("logout"))

    client.post(reverse("login"), {"username": "sarah", "password": "s3cret-pass"})
    html = client.get(DASHBOARD).content.decode()
    assert f'<option value="{manual_test.pk}" selected>Manual Test</option>' in html
    assert '<th scope="col">Manual Test</th>' in html
    assert '<th scope="col">Manual Live</th>' not in html


def test_filters_are_remembered_per_user(signed_in, sarah, olly, waiting, goodhealth):
    signed_in(sarah).post(FILTERS, {"project": goodhealth.project.pk})
    html = signed_in(olly).get(DASHBOARD).content.decode()
    assert manual_deployment_row(html)
    assert "Showing the filters you chose last time." not in html
    assert "Clear filters" not in html
    assert not DashboardPreference.objects.filter(user=olly).exists()


def test_new_filters_replace_the_remembered_ones(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    client.post(FILTERS, {"project": goodhealth.project.pk})
    client.post(FILTERS, {"project": waiting.project.pk})
    html = client.get(DASHBOARD).content.decode()
    assert manual_deployment_row(html) and not goodhealth_row(html)
    assert DashboardPreference.objects.get(user=sarah).project_ids == [waiting.project.pk]


def test_choosing_all_everywhere_is_remembered_as_no_filter(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    client.post(FILTERS, {"project": goodhealth.project.pk})
    response = client.post(FILTERS, {"group": "", "project": "", "environment": ""})
    assert response["Location"] == DASHBOARD
    html = client.get(DASHBOARD).content.decode()
    assert manual_deployment_row(html) and goodhealth_row(html)
    assert "Clear filters" not in html
    assert DashboardPreference.objects.get(user=sarah).project_ids == []


def test_remembering_ignores_what_is_not_an_id(signed_in, sarah, waiting):
    signed_in(sarah).post(FILTERS, {"project": ["nonsense", "²", "-1", str(waiting.project.pk)]})
    assert DashboardPreference.objects.get(user=sarah).project_ids == [waiting.project.pk]


def test_clear_filters_forgets_them(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    client.post(FILTERS, {"project": goodhealth.project.pk})
    response = client.post(FILTERS, {"project": goodhealth.project.pk, "clear": "1"})
    assert response.status_code == 302
    assert response["Location"] == DASHBOARD
    assert not DashboardPreference.objects.filter(user=sarah).exists()
    html = client.get(DASHBOARD).content.decode()
    assert manual_deployment_row(html) and goodhealth_row(html)
    assert "Clear filters" not in html


def test_a_get_with_filters_shows_them_and_remembers_nothing(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    html = client.get(DASHBOARD, {"project": goodhealth.project.pk}).content.decode()
    assert goodhealth_row(html) and not manual_deployment_row(html)
    assert "Showing the filters you chose last time." not in html
    assert preferences() == []

    client.post(FILTERS, {"project": goodhealth.project.pk})
    before = preferences()
    client.get(DASHBOARD, {"project": waiting.project.pk, "environment": waiting.environment_id})
    client.get(DASHBOARD, {"group": "", "project": "", "environment": ""})
    assert preferences() == before
    html = client.get(DASHBOARD).content.decode()
    assert goodhealth_row(html) and not manual_deployment_row(html)


def test_a_get_with_clear_forgets_nothing(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    client.post(FILTERS, {"project": goodhealth.project.pk})
    before = preferences()
    response = client.get(DASHBOARD, {"clear": "1"})
    assert response.status_code == 200
    assert preferences() == before
    assert "Showing the filters you chose last time." in response.content.decode()


def test_the_filters_page_answers_no_get(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    assert client.get(FILTERS, {"project": goodhealth.project.pk}).status_code == 405
    assert client.get(FILTERS, {"clear": "1"}).status_code == 405
    assert preferences() == []


def test_remembering_needs_a_csrf_token(sarah, waiting):
    client = Client(enforce_csrf_checks=True)
    client.force_login(sarah)
    assert client.post(FILTERS, {"project": waiting.project.pk}).status_code == 403
    DashboardPreference.objects.create(user=sarah, project_ids=[waiting.project.pk])
    before = preferences()
    assert client.post(FILTERS, {"clear": "1"}).status_code == 403
    assert preferences() == before

    client.get(DASHBOARD)  # sets the CSRF cookie the form's token matches
    token = client.cookies["csrftoken"].value
    response = client.post(FILTERS, {"clear": "1", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert preferences() == []


def test_remembering_needs_a_signed_in_user(client, waiting):
    response = client.post(FILTERS, {"project": waiting.project.pk})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert client.post(FILTERS, {"clear": "1"}).status_code == 302
    assert not DashboardPreference.objects.exists()


def test_live_updates_keep_the_page_filters_and_remember_nothing(signed_in, sarah, waiting, goodhealth):
    client = signed_in(sarah)
    client.post(FILTERS, {"project": goodhealth.project.pk, "environment": ["12x", ""]})
    html = client.get(DASHBOARD).content.decode()
    # the restored page polls for what it shows
    assert f'hx-get="{DASHBOARD}?project={goodhealth.project.pk}"' in html

    htmx = {"HX-Request": "true"}
    grid = client.get(DASHBOARD, {"project": waiting.project.pk}, headers=htmx).content.decode()
    assert manual_deployment_row(grid) and not goodhealth_row(grid)
    # a poll without filters shows everything: it does not restore the remembered ones
    grid = client.get(DASHBOARD, headers=htmx).content.decode()
    assert manual_deployment_row(grid) and goodhealth_row(grid)
    assert DashboardPreference.objects.get(user=sarah).project_ids == [goodhealth.project.pk]


def test_remembered_filters_that_match_nothing_say_so(signed_in, sarah, waiting):
    DashboardPreference.objects.create(user=sarah, group_ids=[999999], project_ids=["x", 3.5, None])
    html = signed_in(sarah).get(DASHBOARD).content.decode()
    assert "No project you may see matches these filters" in html
    assert "Clear filters" in html


def test_dashboard_cells_escape_names_and_versions(signed_in, sarah, waiting):
    from lifecycles.models import Environment
    from processes.models import Project
    from releases.models import Release

    Project.objects.filter(pk=waiting.project_id).update(name="<i>Manual</i>")
    Environment.objects.filter(slug="manual-live").update(name="<b>Live</b>")
    Release.objects.filter(pk=waiting.release_id).update(version="<em>1</em>")
    html = signed_in(sarah).get(DASHBOARD).content.decode()
    assert "<i>Manual</i>" not in html and "<b>Live</b>" not in html and "<em>1</em>" not in html
    assert 'title="Not deployed to &lt;b&gt;Live&lt;/b&gt; yet"' in html
    assert '<span class="chip__version">&lt;em&gt;1&lt;/em&gt;</span>' in html
    assert f'href="{waiting.get_absolute_url()}"' in html
