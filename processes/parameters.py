"""Step template parameters (SPEC §11) as pure functions on plain values: what a template's
parameter list must be, which values a step gives them, and a template's fields rendered
with those values.

``#{Name}`` is the placeholder of a parameter and of a variable alike. Rendering replaces a
template's parameters only; every other reference (``#{Relman.Environment}``, a project
variable) stays for the substitution at run time, and ``##{Name}`` stays escaped for it.

How a value lands in a template's text:

- in instructions (Markdown), as written;
- in a script, as one shell word: quoted with ``shlex.quote``, so a value with a quote, a
  space or ``$(...)`` is data, never code. A template therefore writes ``--url #{Url}``,
  never ``'#{Url}'`` or ``"#{Url}"`` (refused: the quotes would become part of the value);
- a **sensitive** parameter's value is a reference to a variable, ``#{DbPassword}``, never the
  secret itself. In instructions it stays that reference (shown masked at run time); in a
  script it becomes ``"${RELMAN_VAR_DBPASSWORD?...}"``, the environment variable every runner
  gives a script for that variable, so the secret is never part of any script's text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]+")
# As variables.resolution reads references: `##{Name}` is the literal `#{Name}`.
_REFERENCE = re.compile(r"(#?)#\{([A-Za-z0-9._-]+)\}")
# A value that refers to one variable and is nothing else.
_VARIABLE_REFERENCE = re.compile(r"\s*#\{([A-Za-z0-9._-]+)\}\s*")
RESERVED_PREFIX = "Relman."
MAX_PARAMETERS = 50
PARAMETER_KEYS = ("name", "label", "help", "default", "sensitive")


@dataclass(frozen=True)
class Parameter:
    name: str
    label: str
    help: str = ""
    # None: the step must give a value.
    default: str | None = None
    sensitive: bool = False

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "help": self.help,
            "default": self.default,
            "sensitive": self.sensitive,
        }


class ParameterError(ValueError):
    """What is wrong, as messages a person can act on."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


def environment_name(name: str) -> str:
    """The environment variable a runner gives a script for the variable ``name``
    (``variables.resolution.environment_name``, which this app sits below)."""
    return "RELMAN_VAR_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def parameters_read(raw: object) -> list[Parameter]:
    """A template's parameter list, checked: a list of ``{name, label?, help?, default?,
    sensitive?}`` with unique names (letters, digits, '.', '_', '-'; not ``Relman.``), string
    labels, help and defaults; a sensitive parameter's default, if any, refers to a variable.

    Raises ``ParameterError`` naming each problem."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ParameterError(["Parameters are a list of {name, label, help, default, sensitive}."])
    if len(raw) > MAX_PARAMETERS:
        raise ParameterError([f"A template has at most {MAX_PARAMETERS} parameters."])
    errors: list[str] = []
    read: list[Parameter] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            errors.append(f"Parameter {index + 1} is not an object with a name.")
            continue
        unknown = sorted(set(item) - set(PARAMETER_KEYS))
        if unknown:
            errors.append(f"Parameter {index + 1} has unknown keys {', '.join(unknown)}.")
        name = item.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            errors.append(
                f"Parameter {index + 1} needs a name of letters, digits, '.', '_' and '-' (got {name!r})."
            )
            continue
        if name.startswith(RESERVED_PREFIX):
            errors.append(f"Parameter {name}: names starting with {RESERVED_PREFIX} are Relman's own.")
        if any(p.name == name for p in read):
            errors.append(f"Parameter {name} is listed twice.")
        label, help_text, default = item.get("label") or name, item.get("help") or "", item.get("default")
        sensitive = item.get("sensitive", False)
        if not all(isinstance(v, str) for v in (label, help_text)) or not isinstance(sensitive, bool):
            errors.append(f"Parameter {name}: label and help are text, sensitive is true or false.")
            continue
        if default is not None and not isinstance(default, str):
            errors.append(f"Parameter {name}: a default is text (or null for none).")
            continue
        if sensitive and default and not _VARIABLE_REFERENCE.fullmatch(default):
            errors.append(
                f"Parameter {name} is sensitive: its default must refer to a variable, like #{{DbPassword}}."
            )
        read.append(Parameter(name, label, help_text, default, sensitive))
    if errors:
        raise ParameterError(errors)
    return read


def quoted_placeholders(script: str, names: Sequence[str]) -> list[str]:
    """The parameters ``script`` puts inside quotes (where a quoted value would keep its
    quotes), in order of first use. Reads shell quoting: '…', "…" and backslash escapes."""
    found: list[str] = []
    wanted = set(names)
    quote = ""
    index = 0
    while index < len(script):
        char = script[index]
        if char == "\\" and quote != "'":
            index += 2
            continue
        if (
            not quote
            and char == "#"
            and not script.startswith("#{", index)
            and (index == 0 or script[index - 1].isspace())
        ):
            # A comment, to the end of its line.
            end = script.find("\n", index)
            index = len(script) if end < 0 else end
            continue
        if quote and char == quote:
            quote = ""
        elif not quote and char in "'\"":
            quote = char
        elif quote and script.startswith("#{", index):
            match = _REFERENCE.match(script, index)
            if match and match.group(2) in wanted and match.group(2) not in found:
                found.append(match.group(2))
        index += 1
    return found


def template_errors(*, kind: str, script: str, parameters: Sequence[Parameter]) -> list[str]:
    """What is wrong with a template's script as a template: a parameter inside quotes."""
    quoted = quoted_placeholders(script, [p.name for p in parameters])
    return [
        f"The script puts #{{{name}}} inside quotes; write it bare (--url #{{{name}}}): "
        "Relman quotes each value as one shell word."
        for name in quoted
    ]


def values_resolve(
    parameters: Sequence[Parameter], given: Mapping[str, object] | None, *, template: str
) -> dict[str, str]:
    """Every parameter's value: the one given, else its default.

    Raises ``ParameterError`` naming: a name that is not a parameter of the template; a
    value that is not text; a parameter with neither a value nor a default; a sensitive
    parameter given anything but a reference to a variable (the secret itself would be
    stored in the step, its API answers and the audit trail)."""
    given = dict(given or {})
    errors: list[str] = []
    known = {p.name for p in parameters}
    for name in given:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            errors.append(f"{name} is not a parameter of {template}; its parameters are {listed}.")
    values: dict[str, str] = {}
    for parameter in parameters:
        value = given.get(parameter.name)
        if value is None:
            value = parameter.default
        if value is None or (value == "" and parameter.default is None):
            errors.append(f"Parameter {parameter.name} ({parameter.label}) needs a value: it has no default.")
            continue
        if not isinstance(value, str):
            errors.append(f"Parameter {parameter.name}: a value is text.")
            continue
        if parameter.sensitive and not (value == "" or _VARIABLE_REFERENCE.fullmatch(value)):
            errors.append(
                f"Parameter {parameter.name} is sensitive, so its value must refer to a variable, not be "
                f"the secret itself: make the secret a sensitive project variable (say "
                f"{parameter.name}Secret) and give #{{{parameter.name}Secret}}."
            )
            continue
        values[parameter.name] = value.strip() if parameter.sensitive else value
    if errors:
        raise ParameterError(errors)
    return values


def render_text(
    text: str, parameters: Sequence[Parameter], values: Mapping[str, str], *, script: bool
) -> str:
    """``text`` with each parameter's placeholder replaced by its value (see the module's
    docstring for how, in a script); other references are left as written."""
    by_name = {p.name: p for p in parameters}

    def replace(match: re.Match) -> str:
        escape, name = match.groups()
        parameter = by_name.get(name)
        if escape or parameter is None or name not in values:
            return match.group(0)
        value = values[name]
        if not script:
            return value
        if parameter.sensitive:
            reference = _VARIABLE_REFERENCE.fullmatch(value)
            if reference is None:
                return "''"
            variable = reference.group(1)
            return f'"${{{environment_name(variable)}?the variable {variable} has no value here}}"'
        return shlex.quote(value)

    return _REFERENCE.sub(replace, text)


def render_script(script: str, parameters: Sequence[Parameter], values: Mapping[str, str]) -> str:
    """A template's script rendered; a script that is one parameter's placeholder alone
    (the shipped "Run a script") takes that value as the script itself."""
    whole = _REFERENCE.fullmatch(script.strip())
    if whole and not whole.group(1):
        parameter = next((p for p in parameters if p.name == whole.group(2)), None)
        if parameter is not None and not parameter.sensitive and parameter.name in values:
            return values[parameter.name]
    return render_text(script, parameters, values, script=True)
