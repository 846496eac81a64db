"""``relman-cli``: Relman for CI pipelines, over the REST API.

Configured by two environment variables: ``RELMAN_URL`` (the server's base URL) and
``RELMAN_API_KEY`` (``manage.py create_api_key <username>`` prints one). HTTP goes through
the standard library's ``urllib``: a pipeline needs nothing but this package.

Output: stdout carries the result a script captures (a release or deployment id, a list,
a document; with ``--output json`` the API's JSON, or its error); progress, hints and
errors go to stderr.

Exit codes: 0 success; 1 the deployment failed; 2 it was cancelled; 3 ``deploy --wait``
timed out while it goes on; 4 refused (usage, configuration, the server's refusal, a server
that cannot be reached); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 2
EXIT_TIMEOUT = 3
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130
EXIT_CODES = {"success": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}

API_PREFIX = "/api/v1"
TERMINAL_STATES = {"success", "failed", "cancelled"}
YAML = "application/yaml"
JSON = "application/json"
# Polling during --wait survives this many consecutive transport or 5xx errors (a server
# restart, a proxy hiccup) before giving up.
MAX_POLL_ERRORS = 5
# A 429 is retried at most this many times, after the Retry-After the server names.
MAX_THROTTLE_RETRIES = 5


class CliError(Exception):
    """A failure the user can act on; printed as one message, exit code 4."""

    code = "usage"

    def __init__(self, message: str, *, lines: Sequence[str] = ()):
        super().__init__(message)
        self.message = message
        self.lines = list(lines)

    def as_json(self) -> dict:
        return {"detail": self.message, "code": self.code}


class ApiError(CliError):
    """The server refused: ``detail`` is its own sentence, ``lines`` its field errors."""

    def __init__(self, status: int, detail: str, code: str, payload: Any):
        self.status = status
        self.detail = detail
        self.code = code
        self.payload = payload
        lines = field_errors(payload)
        headline = "Invalid input" if lines else detail
        super().__init__(f"{headline} (HTTP {status}{f', {code}' if code else ''})", lines=lines)

    def as_json(self) -> dict:
        return self.payload if isinstance(self.payload, dict) else {"detail": self.detail, "code": self.code}


class TransportError(CliError):
    """The server could not be reached, or did not answer in time."""

    code = "unreachable"


def field_errors(payload: Any) -> list[str]:
    """The error model's ``errors`` as ``path: message`` lines, e.g.
    ``steps[2].responsible_teams: Unknown team id 99.``"""
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(errors, dict):
        return []
    return [
        message if path == "non_field_errors" else f"{path}: {message}"
        for path, messages in errors.items()
        for message in messages
    ]


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn a POST into a GET, or carry the key to another host: say so."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise TransportError(
            f"{req.get_method()} {req.full_url} was redirected to {newurl}; "
            "set RELMAN_URL to the address the server redirects to."
        )


_opener = urllib.request.build_opener(_RefuseRedirects)


@dataclass
class Client:
    """A small JSON client for ``/api/v1/``: Bearer key, errors as ``ApiError`` with the
    API's ``detail``, 429s retried after their Retry-After."""

    base_url: str
    api_key: str
    timeout: float = 30.0
    user_agent: str = field(default_factory=lambda: f"relman-cli/{_version()}")

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        query = ""
        if params:
            query = "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.base_url.rstrip('/')}{API_PREFIX}{path}{query}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Any:
        """The decoded JSON answer (or the raw text when ``accept`` is not JSON)."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": accept,
            "User-Agent": self.user_agent,
        }
        if data is not None:
            headers["Content-Type"] = content_type
        url = self.url(path, params)
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with _opener.open(request, timeout=self.timeout) as response:
                    content = response.read()
                    break
            except urllib.error.HTTPError as exc:
                content = exc.read()
                if exc.code == 429 and attempt < MAX_THROTTLE_RETRIES:
                    wait = _retry_after(exc.headers.get("Retry-After"))
                    _say(f"The server is rate limiting; retrying in {wait:g} s.")
                    time.sleep(wait)
                    continue
                raise _api_error(exc.code, content) from None
            except urllib.error.URLError as exc:
                raise TransportError(f"Cannot reach Relman at {self.base_url}: {exc.reason}") from None
            except OSError as exc:  # refused, reset, timed out
                raise TransportError(f"Cannot reach Relman at {self.base_url}: {exc}") from None
        if accept != JSON:
            return content.decode("utf-8")
        if not content:
            return None
        try:
            return json.loads(content)
        except ValueError:
            raise TransportError(
                f"{url} did not answer with JSON; is RELMAN_URL the Relman server's base URL?"
            ) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body=body)

    def get_all(self, path: str, **params: Any) -> list[dict]:
        """Every item of a paginated list, page by page."""
        items: list[dict] = []
        page = 1
        while True:
            answer = self.get(path, **params, page=page, page_size=100)
            items.extend(answer["results"])
            if not answer.get("next"):
                return items
            page += 1


def _api_error(status: int, content: bytes) -> ApiError:
    try:
        payload = json.loads(content)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "detail" in payload:
        return ApiError(status, str(payload["detail"]), str(payload.get("code", "")), payload)
    text = content.decode("utf-8", "replace").strip()
    summary = (
        text.splitlines()[0][:200] if text and not text.startswith("<") else _STATUS_TEXT.get(status, "")
    )
    return ApiError(status, summary or "The server refused the request.", "", payload)


_STATUS_TEXT = {
    401: "Not signed in: check RELMAN_API_KEY.",
    403: "Not allowed.",
    404: "Not found: check RELMAN_URL and the ids and slugs given.",
    500: "The server failed; its log says why.",
    502: "Bad gateway: the Relman server behind the proxy is not answering.",
    503: "The server is unavailable.",
}


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, min(float(value), 300.0)) if value else 1.0
    except ValueError:
        return 1.0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("relman")
    except PackageNotFoundError:
        return "unknown"


def _say(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)


def _out(message: str = "") -> None:
    print(message, flush=True)


def _print_json(data: Any) -> None:
    _out(json.dumps(data, indent=2, ensure_ascii=False))


# --- commands -------------------------------------------------------------------------------


def cmd_create_release(client: Client, args: argparse.Namespace) -> int:
    release = _create_release(client, args, existing_ok=args.existing_ok)
    if _json_output(args):
        _print_json(release)
    else:
        _out(str(release["id"]))
    return EXIT_OK


def _create_release(client: Client, args: argparse.Namespace, *, existing_ok: bool) -> dict:
    """Creates release ``--version`` of ``--project`` with its notes; with ``existing_ok``
    a release that already has the version (a re-run job's) is found instead."""
    notes = _read_text(args.notes_file) if args.notes_file else args.notes
    path = f"/projects/{_path(args.project)}/releases/"
    try:
        release = client.post(path, {"version": args.version, "notes": notes or ""})
        verb = "Created"
    except ApiError as exc:
        if not (existing_ok and exc.code == "duplicate_version"):
            raise
        release = _release_by_version(client, args.project, args.version)
        verb = "Found existing"
    _say(f"{verb} release {release['version']} of {release['project']} (release id {release['id']}).")
    return release


def _release_by_version(client: Client, project: str, version: str) -> dict:
    version = version.strip()
    answer = client.get(f"/projects/{_path(project)}/releases/", version=version)
    for release in answer["results"]:
        if release["version"] == version:
            return release
    raise CliError(f"{project} has no release {version}; create it first, or add --create-release.")


def _release_to_deploy(client: Client, args: argparse.Namespace) -> dict:
    """The release ``deploy`` names: by ``--release-id``, or by ``--project`` and
    ``--version`` (created first with ``--create-release``)."""
    if args.release_id is not None:
        if args.project or args.version or args.create_release:
            raise CliError(
                "--release-id names the release alone; leave out --project, --version and --create-release."
            )
        return {"id": args.release_id, "version": f"id {args.release_id}"}
    if not (args.project and args.version):
        raise CliError("Name the release to deploy: --project and --version, or --release-id.")
    if args.create_release:
        return _create_release(client, args, existing_ok=True)
    return _release_by_version(client, args.project, args.version)


def cmd_deploy(client: Client, args: argparse.Namespace) -> int:
    if args.timeout is not None and args.timeout < 0:
        raise CliError("--timeout must be 0 (no limit) or more seconds.")
    release = _release_to_deploy(client, args)
    deployment = client.post(f"/releases/{release['id']}/deployments/", {"environment": args.environment})
    _say(
        f"Deployment {deployment['id']} of {deployment['project']} release {release['version']} "
        f"to {deployment['environment']}: {deployment['state']}."
    )
    _say(f"Follow it at {client.base_url.rstrip('/')}/deployments/{deployment['id']}/")
    if not _json_output(args):
        _out(str(deployment["id"]))
    if args.wait:
        watcher = Watcher(client, deployment["id"], interval=args.interval, timeout=args.timeout)
        deployment, code = watcher.run()
    else:
        code = EXIT_CODES.get(deployment["state"], EXIT_OK)
    if _json_output(args):
        _print_json(deployment)
    return code


def _json_output(args: argparse.Namespace) -> bool:
    return args.output == "json"


class Watcher:
    """Follows a deployment until it finishes: prints new task log lines, state changes,
    and each interruption that blocks it with who can act on it."""

    def __init__(
        self,
        client: Client,
        deployment_id: int,
        *,
        interval: float,
        timeout: float | None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.deployment_id = deployment_id
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.last_log_id = 0
        self.last_state: str | None = None
        self.shown: dict[int, tuple] = {}
        self.team_names: dict[int, str] = {}
        self.blocking: list[dict] = []

    def run(self) -> tuple[dict, int]:
        deadline = self.clock() + self.timeout if self.timeout else None
        errors = 0
        deployment: dict = {"id": self.deployment_id, "state": "unknown"}
        while True:
            try:
                deployment = self.poll()
                errors = 0
            except (TransportError, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status < 500:
                    raise
                errors += 1
                if errors > MAX_POLL_ERRORS:
                    raise
                _say(f"Polling failed ({exc.message}); trying again.")
            state = deployment["state"]
            if state in TERMINAL_STATES:
                self.finish(deployment)
                return deployment, EXIT_CODES[state]
            if deadline is not None and self.clock() >= deadline:
                self.timed_out(deployment)
                return deployment, EXIT_TIMEOUT
            remaining = self.interval if deadline is None else deadline - self.clock()
            self.pause(max(0.0, min(self.interval, remaining)))

    def pause(self, seconds: float) -> None:
        """Between two polls (tests act on the deployment here)."""
        time.sleep(seconds)

    def poll(self) -> dict:
        deployment = self.client.get(f"/deployments/{self.deployment_id}/")
        self.print_log()
        if deployment["state"] != self.last_state:
            self.last_state = deployment["state"]
            _say(f"State: {deployment['state']}")
        if deployment["state"] == "waiting":
            self.blocking = self.client.get_all(
                "/interruptions/", deployment=self.deployment_id, pending="true"
            )
            for interruption in self.blocking:
                self.announce(interruption)
        else:
            self.blocking = []
        return deployment

    def print_log(self) -> None:
        while True:
            entries = self.client.get(f"/deployments/{self.deployment_id}/log/", after=self.last_log_id)[
                "entries"
            ]
            for entry in entries:
                self.last_log_id = entry["id"]
                level = entry["level"]
                prefix = f"{level.upper()} " if level in {"warning", "error"} else ""
                _say(f"  {_clock(entry['timestamp'])} {prefix}{entry['message']}")
            if len(entries) < 1000:
                return

    def announce(self, interruption: dict, *, again: bool = False) -> None:
        """Prints an interruption once, and again when someone takes it."""
        key = (interruption["assignee"], interruption["can_take"])
        if not again and self.shown.get(interruption["id"]) == key:
            return
        first = interruption["id"] not in self.shown
        self.shown[interruption["id"]] = key
        if not first and not again:
            holder = interruption["assignee"] or "nobody"
            _say(f"Interruption {interruption['id']} is now held by {holder}.")
            return
        _say(f'Waiting for a person: "{interruption["title"]}" (interruption {interruption["id"]})')
        _say(f"  Responsible teams: {self.teams(interruption['responsible_teams']) or 'none named'}")
        _say(f"  Assigned to: {interruption['assignee'] or 'nobody yet'}")
        _say(
            "  This API key's user may act on it."
            if interruption["can_take"]
            else "  This API key's user may not act on it; a member of a responsible team must."
        )
        if interruption["type"] == "guided_failure":
            example = "--guidance retry|ignore|fail"
        else:
            example = "--result proceed"
        _say(
            f'  Answer it with: relman-cli interruptions submit {interruption["id"]} {example} --notes "..."'
        )
        _say(
            f"  or on the deployment page: {self.client.base_url.rstrip('/')}/deployments/{self.deployment_id}/"
        )

    def teams(self, ids: list[int]) -> str:
        names = []
        for team_id in ids:
            if team_id not in self.team_names:
                try:
                    self.team_names[team_id] = self.client.get(f"/teams/{team_id}/")["name"]
                except CliError:
                    self.team_names[team_id] = f"team {team_id}"
            names.append(self.team_names[team_id])
        return ", ".join(names)

    def finish(self, deployment: dict) -> None:
        outcome = {"success": "succeeded", "failed": "failed", "cancelled": "was cancelled"}[
            deployment["state"]
        ]
        _say(f"Deployment {deployment['id']} to {deployment['environment']} {outcome}.")

    def timed_out(self, deployment: dict) -> None:
        _say(
            f"Timed out after {self.timeout:g} s: deployment {deployment['id']} is still "
            f"{deployment['state']}; it goes on without this command."
        )
        for interruption in self.blocking:
            self.announce(interruption, again=True)


def _clock(timestamp: str) -> str:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).strftime("%H:%M:%S")
    except ValueError:
        return timestamp


def cmd_interruptions_list(client: Client, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"deployment": args.deployment}
    if not args.all:
        params["pending"] = "true"
    if args.mine:
        params["mine"] = "true"
    interruptions = client.get_all("/interruptions/", **params)
    if _json_output(args):
        _print_json(interruptions)
        return EXIT_OK
    if not interruptions:
        _say("No interruptions." if args.all else "No interruption is waiting.")
        return EXIT_OK
    rows = [("ID", "DEPLOYMENT", "STATE", "ASSIGNEE", "CAN ACT", "TITLE")]
    for item in interruptions:
        state = "pending" if item["pending"] else item["result"] or item["guidance"] or "answered"
        rows.append(
            (
                str(item["id"]),
                str(item["deployment"]),
                state,
                item["assignee"] or "-",
                "yes" if item["can_take"] else "no",
                item["title"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        _out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return EXIT_OK


def cmd_interruptions_take(client: Client, args: argparse.Namespace) -> int:
    interruption = client.post(f"/interruptions/{args.id}/take/", {"take_over": args.take_over})
    if _json_output(args):
        _print_json(interruption)
    else:
        _out(
            f'Interruption {interruption["id"]} ("{interruption["title"]}") is held by {interruption["assignee"]}.'
        )
    return EXIT_OK


def cmd_interruptions_submit(client: Client, args: argparse.Namespace) -> int:
    notes = _read_text(args.notes_file) if args.notes_file else args.notes
    body = {"notes": notes or ""}
    if args.result:
        body["result"] = args.result
    else:
        body["guidance"] = args.guidance
    interruption = client.post(f"/interruptions/{args.id}/submit/", body)
    if _json_output(args):
        _print_json(interruption)
    else:
        answer = interruption["result"] or interruption["guidance"]
        _out(
            f'Interruption {interruption["id"]} ("{interruption["title"]}"): {answer}, '
            f"submitted by {interruption['submitted_by']}."
        )
    return EXIT_OK


def cmd_process_export(client: Client, args: argparse.Namespace) -> int:
    as_json = _is_json(args.file)
    text = client.request(
        "GET", f"/projects/{_path(args.project)}/process/", accept=JSON if as_json else YAML
    )
    if as_json:
        text = json.dumps(text, indent=2, ensure_ascii=False) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        _say(f"Wrote the process of {args.project} to {args.file}.")
    return EXIT_OK


def cmd_process_import(client: Client, args: argparse.Namespace) -> int:
    text = _read_text(args.file)
    content_type = JSON if _is_json(args.file) else YAML
    try:
        document = client.request(
            "PUT",
            f"/projects/{_path(args.project)}/process/",
            raw=text.encode("utf-8"),
            content_type=content_type,
        )
    except ApiError as exc:
        exc.lines = _name_steps(exc.lines, text, content_type)
        raise
    if _json_output(args):
        _print_json(document)
    else:
        _out(f"Replaced the process of {args.project}: {len(document['steps'])} steps.")
    return EXIT_OK


def _name_steps(lines: list[str], text: str, content_type: str) -> list[str]:
    """``steps[2].script: …`` becomes ``steps[2] ("Deploy").script: …``, from the file's
    own step names, so the error points at the step a person recognises."""
    try:
        if content_type == JSON:
            document = json.loads(text)
        else:
            import yaml  # a dependency of the server package this CLI ships in

            document = yaml.safe_load(text)
        names = [step.get("name", "") for step in document["steps"]]
    except Exception:  # the error lines stay as the server wrote them
        return lines
    named = []
    for line in lines:
        if line.startswith("steps["):
            index = line[len("steps[") : line.index("]")]
            if index.isdigit() and int(index) < len(names) and names[int(index)]:
                cut = line.index("]") + 1
                line = f'{line[:cut]} ("{names[int(index)]}"){line[cut:]}'
        named.append(line)
    return named


def _is_json(filename: str) -> bool:
    return filename.lower().endswith(".json")


def _read_text(filename: str) -> str:
    if filename == "-":
        return sys.stdin.read()
    try:
        return Path(filename).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"Cannot read {filename}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{filename} is not UTF-8 text.") from None


def _path(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


# --- arguments ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 4 (refused), leaving 2 to a cancelled deployment."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_REFUSED, f"{self.prog}: error: {message}\n")


def _notes_options(parser: argparse.ArgumentParser) -> None:
    notes = parser.add_mutually_exclusive_group()
    notes.add_argument("--notes", default="", help="Release notes (Markdown).")
    notes.add_argument("--notes-file", metavar="FILE", help="Read the release notes from FILE ('-': stdin).")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="relman-cli",
        description="Relman for CI pipelines: create releases, deploy them and answer interventions.",
        epilog="Configuration: RELMAN_URL (the server's base URL) and RELMAN_API_KEY (an API key; "
        "`manage.py create_api_key <username>` prints one). Exit codes: 0 success, 1 the "
        "deployment failed, 2 it was cancelled, 3 --wait timed out, 4 refused.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    output_help = "text (default): ids and tables; json: the API's JSON answer, or its error, on stdout."
    parser.add_argument("--output", choices=["text", "json"], default="text", help=output_help)
    parser.add_argument("--json", dest="output", action="store_const", const="json", help="--output json.")
    # --output may also follow the command; there it overrides the global one only when given.
    output = _Parser(add_help=False)
    output.add_argument("--output", choices=["text", "json"], default=argparse.SUPPRESS, help=output_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(subparsers, name: str, **kwargs) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[output], **kwargs)

    create = command(commands, "create-release", help="Create a release of a project; prints its id.")
    create.add_argument("--project", required=True, help="Project slug.")
    create.add_argument("--version", required=True, help="Release version, unique in the project.")
    _notes_options(create)
    create.add_argument(
        "--existing-ok",
        action="store_true",
        help="When the version already exists, print that release's id instead of failing (re-run jobs).",
    )
    create.set_defaults(handler=cmd_create_release)

    deploy = command(commands, "deploy", help="Deploy a release to an environment; prints the deployment id.")
    deploy.add_argument("--project", help="Project slug; with --version names the release.")
    deploy.add_argument("--version", help="The release's version.")
    deploy.add_argument(
        "--create-release",
        action="store_true",
        help="Create release --version first (a release that already has it is deployed as it is).",
    )
    _notes_options(deploy)
    deploy.add_argument(
        "--release-id", type=int, help="The release's id, instead of --project and --version."
    )
    deploy.add_argument("--environment", required=True, help="Environment slug.")
    deploy.add_argument(
        "--wait",
        action="store_true",
        help="Follow the deployment until it finishes; exit 0 only when it succeeds.",
    )
    deploy.add_argument(
        "--timeout",
        type=float,
        default=3600,
        metavar="S",
        help="With --wait: stop waiting after S seconds, exit 3 (0: no limit; default 3600).",
    )
    deploy.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="S",
        help="With --wait: poll every S seconds (default 2).",
    )
    deploy.set_defaults(handler=cmd_deploy)

    interruptions = command(commands, "interruptions", help="List, take and answer manual interventions.")
    actions = interruptions.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = command(actions, "list", help="Interruptions waiting for an answer.")
    listing.add_argument("--mine", action="store_true", help="Only those you hold or may take.")
    listing.add_argument("--deployment", type=int, metavar="ID", help="Only this deployment's.")
    listing.add_argument("--all", action="store_true", help="Answered ones too.")
    listing.set_defaults(handler=cmd_interruptions_list)

    take = command(actions, "take", help="Assign an interruption to you.")
    take.add_argument("id", type=int, help="Interruption id.")
    take.add_argument("--take-over", action="store_true", help="Take it from whoever holds it.")
    take.set_defaults(handler=cmd_interruptions_take)

    submit = command(actions, "submit", help="Answer an interruption (taking it first when nobody holds it).")
    submit.add_argument("id", type=int, help="Interruption id.")
    answer = submit.add_mutually_exclusive_group(required=True)
    answer.add_argument("--result", choices=["proceed", "abort"], help="For a manual intervention.")
    answer.add_argument("--guidance", choices=["retry", "ignore", "fail"], help="For a guided failure.")
    submit_notes = submit.add_mutually_exclusive_group()
    submit_notes.add_argument("--notes", default="", help="Notes (Markdown), kept in the task log.")
    submit_notes.add_argument("--notes-file", metavar="FILE", help="Read the notes from FILE ('-': stdin).")
    submit.set_defaults(handler=cmd_interruptions_submit)

    process = command(commands, "process", help="Export or import a project's process as code.")
    process_actions = process.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = command(process_actions, "export", help="Write the process to FILE (YAML, or JSON for *.json).")
    export.add_argument("--project", required=True, help="Project slug.")
    export.add_argument("file", metavar="FILE", help="Where to write it ('-': stdout).")
    export.set_defaults(handler=cmd_process_export)
    load = command(
        process_actions, "import", help="Replace the process with FILE (YAML, or JSON for *.json)."
    )
    load.add_argument("--project", required=True, help="Project slug.")
    load.add_argument("file", metavar="FILE", help="The document to import ('-': stdin, as YAML).")
    load.set_defaults(handler=cmd_process_import)
    return parser


def client_from_environment(environ: dict[str, str] | None = None) -> Client:
    environ = os.environ if environ is None else environ
    url = environ.get("RELMAN_URL", "").strip()
    key = environ.get("RELMAN_API_KEY", "").strip()
    if not url:
        raise CliError("RELMAN_URL is not set: the Relman server's base URL, e.g. https://relman.example.com")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"RELMAN_URL must start with http:// or https://; got {url!r}.")
    if not key:
        raise CliError("RELMAN_API_KEY is not set: `manage.py create_api_key <username>` prints a key.")
    return Client(base_url=url, api_key=key)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(client_from_environment(), args)
    except CliError as exc:
        _say(f"relman-cli: error: {exc.message}")
        for line in exc.lines:
            _say(f"  {line}")
        if _json_output(args):
            _print_json(exc.as_json())
        return EXIT_REFUSED
    except KeyboardInterrupt:
        _say("relman-cli: interrupted; a deployment already started goes on.")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    # The module is self-contained: a pipeline may also run this one file with any Python 3.11+.
    sys.exit(main())
