"""The pure rules of variables: precedence, ambiguity, substitution, masking."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from variables.resolution import (
    MASK,
    Context,
    Entry,
    Masker,
    ambiguities,
    environment_name,
    name_error,
    resolve,
    substitute,
    undefined,
    value_error,
)


def entry(value, environments=(), roles=(), targets=(), name="Db"):
    return Entry(
        name=name,
        value=value,
        environments=frozenset(environments),
        roles=frozenset(roles),
        targets=frozenset(targets),
    )


PROD = Context(environment="production")
PROD_WEB01 = Context(environment="production", roles=frozenset({"web"}), target="web-01")

# (values, context, the value that wins)
PRECEDENCE = [
    pytest.param([entry("any")], PROD, "any", id="unscoped applies everywhere"),
    pytest.param(
        [entry("any"), entry("prod", ["production"])], PROD, "prod", id="environment beats unscoped"
    ),
    pytest.param([entry("prod", ["production"]), entry("any")], PROD, "prod", id="order does not matter"),
    pytest.param(
        [entry("any"), entry("test", ["testing"])], PROD, "any", id="other environment does not apply"
    ),
    pytest.param(
        [entry("prod", ["production"]), entry("web", roles=["web"])],
        PROD_WEB01,
        "web",
        id="role beats environment",
    ),
    pytest.param(
        [entry("any"), entry("db", roles=["db"])], PROD_WEB01, "any", id="other role does not apply"
    ),
    pytest.param(
        [entry("web", roles=["web"]), entry("t", targets=["web-01"])], PROD_WEB01, "t", id="target beats role"
    ),
    pytest.param(
        [entry("web", roles=["web"]), entry("pw", ["production"], roles=["web"])],
        PROD_WEB01,
        "pw",
        id="environment and role beat role alone",
    ),
    pytest.param(
        [entry("any"), entry("t", ["testing"], targets=["web-01"])],
        PROD_WEB01,
        "any",
        id="every scope of a value must match",
    ),
    pytest.param(
        [entry("web", roles=["web"]), entry("any")], PROD, "any", id="no target: role scopes never apply"
    ),
]


@pytest.mark.parametrize(("values", "context", "expected"), PRECEDENCE)
def test_the_most_specific_value_wins(values, context, expected):
    assert resolve(values, context)["Db"].value == expected


def test_a_name_with_no_applicable_value_is_not_resolved():
    assert resolve([entry("test", ["testing"])], PROD) == {}


AMBIGUOUS = [
    pytest.param(entry("a"), entry("b"), id="two unscoped"),
    pytest.param(entry("a", ["production"]), entry("b", ["production", "testing"]), id="shared environment"),
    pytest.param(entry("a", roles=["web"]), entry("b", roles=["web", "db"]), id="shared role"),
    pytest.param(entry("a", targets=["web-01"]), entry("b", targets=["web-01"]), id="same target"),
    pytest.param(
        entry("a", ["production"], roles=["web"]),
        entry("b", ["production"], roles=["web"]),
        id="same pair of scopes",
    ),
]

DISTINCT = [
    pytest.param(entry("a", ["production"]), entry("b", ["testing"]), id="different environments"),
    pytest.param(entry("a"), entry("b", ["production"]), id="different specificity"),
    pytest.param(entry("a", roles=["web"]), entry("b", ["production"]), id="role and environment"),
    pytest.param(entry("a", roles=["web"]), entry("b", roles=["db"]), id="different roles"),
    pytest.param(entry("a"), entry("b", name="Other"), id="different names"),
]


@pytest.mark.parametrize(("a", "b"), AMBIGUOUS)
def test_equally_specific_values_that_both_apply_are_ambiguous(a, b):
    assert ambiguities([a, b]) == [(a, b)]


@pytest.mark.parametrize(("a", "b"), DISTINCT)
def test_values_that_never_compete_are_not_ambiguous(a, b):
    assert ambiguities([a, b]) == []


def test_an_entry_describes_its_scope_for_messages():
    described = Entry("Db", "x", environments=frozenset({"testing", "production"}), source="the project")
    assert described.describe() == "Db (environments: production, testing) in the project"
    assert entry("x").describe() == "Db (unscoped)"


@pytest.mark.parametrize("name", ["Db", "Db.Password", "db_password-2", "A" * 200])
def test_valid_names(name):
    assert name_error(name) is None


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "needs a name"),
        ("Db Password", "use only letters, digits, '.', '_' and '-'"),
        ("Db$", "use only letters"),
        ("Relman.Project", "built-ins"),
        ("A" * 201, "at most 200"),
    ],
)
def test_invalid_names_are_refused_with_the_rule(name, says):
    assert says in name_error(name)


def test_values_are_limited_to_64_kib():
    assert value_error("x" * 64 * 1024) is None
    assert "64 KiB" in value_error("x" * (64 * 1024 + 1))
    assert "64 KiB" in value_error("é" * (32 * 1024 + 1))


def test_substitution_replaces_references_and_keeps_escaped_ones():
    values = {"Db": "db1", "Relman.Environment": "Production"}
    text = "connect #{Db} in #{Relman.Environment}; literal ##{Db}; #{ not a reference }"
    assert substitute(text, values) == "connect db1 in Production; literal #{Db}; #{ not a reference }"
    assert undefined(text, values) == []


def test_undefined_names_are_listed_once_in_order_and_escapes_are_not_references():
    assert undefined("#{B} #{A} #{B} ##{C}", {}) == ["B", "A"]


def test_a_value_is_not_substituted_again():
    assert substitute("#{A}", {"A": "#{B}", "B": "no"}) == "#{B}"


@pytest.mark.parametrize(
    ("name", "variable"),
    [("Db", "RELMAN_VAR_DB"), ("Db.Password", "RELMAN_VAR_DB_PASSWORD"), ("a-b_c", "RELMAN_VAR_A_B_C")],
)
def test_environment_names(name, variable):
    assert environment_name(name) == variable


printable = st.text(
    st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    )
)


@given(secret=printable.filter(lambda s: s.strip()), before=printable, after=printable)
def test_a_secret_never_survives_masking(secret, before, after):
    assume(secret not in MASK)
    masked = Masker([secret]).mask(before + secret + after)
    assert secret not in masked
    assert MASK in masked


@given(
    lines=st.lists(st.text("abcdefXYZ0123=+/", min_size=4, max_size=30), min_size=2, max_size=6),
    before=printable,
    after=printable,
)
def test_a_multiline_secret_printed_line_by_line_leaves_no_line_of_it(lines, before, after):
    secret = "\n".join(lines)
    output = (before + secret + after).split("\n")
    masker = Masker([secret])
    logged = [masker.mask(line) for line in output]
    for line in lines:
        assert not any(line in text for text in logged)


def test_short_lines_of_a_multiline_secret_are_left_alone_and_text_without_secrets_is_unchanged():
    masker = Masker(["-----BEGIN KEY-----\nabc\nMIIEvQIBADANBgkq\n-----END KEY-----", "   "])
    assert masker.mask("MIIEvQIBADANBgkq") == MASK
    assert masker.mask("abc") == "abc"
    assert not Masker(["", " \n "])
    assert Masker([]).mask("plain") == "plain"
