"""The Variables tab: a table with scope columns, sensitive values masked, rows added,
edited and deleted by project editors, a refusal shown next to its row."""

import pytest

from variables import selectors
from variables.models import LibraryVariableSet, Variable

SECRET = "tab-secret-value-42"


@pytest.fixture
def url(octopus):
    return f"/projects/{octopus.project.slug}/variables/"


def add(client, url, **fields):
    data = {"name": "Db", "value": "", "roles": "", "targets": "", **fields}
    return client.post(url, data)


def test_an_editor_adds_edits_and_deletes_values_and_secrets_stay_masked(
    signed_in, editor, url, octopus, django_assert_max_num_queries
):
    client = signed_in(editor)
    test_env = octopus.environments[0]
    assert add(client, url, name="Password", value=SECRET, sensitive="on").status_code == 302
    assert add(client, url, value="db-test", environments=[test_env.pk], roles="web, db").status_code == 302
    with django_assert_max_num_queries(15):
        page = client.get(url).content.decode()
    assert SECRET not in page
    assert "********" in page and "db-test" in page and "db, web" in page
    password = Variable.objects.get(name="Password")
    form = client.get(f"{url}?edit={password.pk}").content.decode()
    assert SECRET not in form
    assert "Leave empty to keep the stored value" in form
    kept = add(client, url, id=password.pk, name="Password", sensitive="on", roles="db")
    assert kept.status_code == 302
    password = Variable.objects.get(name="Password")
    assert password.plain_value() == SECRET and password.roles == ["db"]
    confirm = client.post(url, {"id": password.pk, "action": "delete"})
    assert "Delete the value Password (roles: db)?" in confirm.content.decode()
    assert Variable.objects.filter(name="Password").exists()
    client.post(url, {"id": password.pk, "action": "delete", "confirmed": "1"})
    assert not Variable.objects.filter(name="Password").exists()


def test_a_refusal_is_shown_next_to_its_row_and_nothing_changes(signed_in, editor, url):
    client = signed_in(editor)
    add(client, url, value="one")
    refused = add(client, url, value="two")
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Db (unscoped) and Db (unscoped) are equally specific" in page
    assert 'value="two"' in page
    bad_name = add(client, url, name="bad name", value="x").content.decode()
    assert "use only letters, digits" in bad_name
    assert list(Variable.objects.values_list("value", flat=True)) == ["one"]


def test_viewers_read_without_forms_and_outsiders_get_404(signed_in, vera, oscar, url, octopus):
    Variable.objects.create(project=octopus.project, name="Db", value="visible")
    page = signed_in(vera).get(url)
    assert "visible" in page.content.decode() and "Add value" not in page.content.decode()
    assert signed_in(vera).post(url, {"name": "X", "value": "y"}).status_code == 404
    assert signed_in(oscar).get(url).status_code == 404


def test_an_editor_includes_library_sets_and_their_order_is_kept(signed_in, editor, url, octopus):
    first, second = (LibraryVariableSet.objects.create(name=name) for name in ("B shared", "A shared"))
    client = signed_in(editor)
    client.post(url, {"action": "library_sets", "library_sets": [first.pk]})
    client.post(url, {"action": "library_sets", "library_sets": [first.pk, second.pk]})
    assert selectors.included_sets(octopus.project) == [first, second]
    page = client.get(url).content.decode()
    assert (
        "This project includes, after its own values: <strong>B shared</strong>, <strong>A shared</strong>."
        in page
    )
