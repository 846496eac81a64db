"""The step template library Relman ships (SPEC §11). Each script is bash, run on the
built-in runner or an agent as an unprivileged user; parameters are written bare, as
Relman quotes each value as one shell word (processes.parameters). The templates stay
editable; editing one raises its version."""

from django.db import migrations

POSTGRES_PARAMETERS = [
    {"name": "Host", "label": "Host", "help": "The PostgreSQL server.", "default": "localhost", "sensitive": False},
    {"name": "Port", "label": "Port", "help": "", "default": "5432", "sensitive": False},
    {"name": "Database", "label": "Database", "help": "The database's name.", "default": None, "sensitive": False},
    {"name": "User", "label": "User", "help": "Who connects.", "default": "postgres", "sensitive": False},
    {
        "name": "Password",
        "label": "Password",
        "help": "A reference to a sensitive variable, like #{DbPassword}; empty when the server needs none "
        "(trust, or a .pgpass of the user scripts run as).",
        "default": "",
        "sensitive": True,
    },
]

POSTGRES_CONNECTION = """\
export PGHOST=#{Host} PGPORT=#{Port} PGDATABASE=#{Database} PGUSER=#{User}
password=#{Password}
if [ -n "$password" ]; then export PGPASSWORD="$password"; fi
unset password
"""

HTTP_HEALTH_CHECK = """\
# Asks the URL until it answers the expected status (and contains the expected text), at
# most 1 + Retries times, DelaySeconds apart.
set -u
url=#{Url}
expected_status=#{ExpectedStatus}
expected_text=#{ExpectedText}
retries=#{Retries}
delay=#{DelaySeconds}
for number in "$retries" "$delay"; do
    case "$number" in
        '' | *[!0-9]*) echo "Retries and DelaySeconds are whole numbers, not '$number'." >&2; exit 2 ;;
    esac
done
body=$(mktemp)
trap 'rm -f "$body"' EXIT
attempt=1
while :; do
    status=$(curl --silent --show-error --location --max-time 30 --output "$body" \\
        --write-out '%{http_code}' -- "$url") || status="no answer ($status)"
    if [ "$status" = "$expected_status" ]; then
        if [ -z "$expected_text" ] || grep -qF -- "$expected_text" "$body"; then
            echo "OK: $url answered $status${expected_text:+ and contains \\"$expected_text\\"}."
            exit 0
        fi
        problem="answered $status but does not contain \\"$expected_text\\""
    else
        problem="answered $status, not the expected $expected_status"
    fi
    if [ "$attempt" -gt "$retries" ]; then
        echo "FAILED: $url $problem, after $attempt attempt(s)." >&2
        exit 1
    fi
    echo "Attempt $attempt: $url $problem; trying again in ${delay}s."
    attempt=$((attempt + 1))
    sleep "$delay"
done
"""

POSTGRES_BACKUP = (
    """\
set -euo pipefail
"""
    + POSTGRES_CONNECTION
    + """\
output=#{OutputPath}
mkdir -p -- "$(dirname -- "$output")"
echo "Backing up $PGDATABASE on $PGHOST:$PGPORT to $output"
# Written aside first: a failed dump never leaves a file that looks like a backup.
pg_dump --format=custom --no-password --file="$output.partial"
mv -f -- "$output.partial" "$output"
echo "Backup written: $output ($(wc -c < "$output") bytes)."
"""
)

SQL_MIGRATIONS = (
    """\
set -uo pipefail
"""
    + POSTGRES_CONNECTION
    + """\
folder=#{Folder}
if [ ! -d "$folder" ]; then echo "FAILED: there is no folder $folder." >&2; exit 1; fi
# Byte order of the names, whatever the locale: 001_x.sql before 002_y.sql.
export LC_ALL=C
shopt -s nullglob
files=("$folder"/*.sql)
if [ ${#files[@]} -eq 0 ]; then echo "No .sql files in $folder: nothing to do."; exit 0; fi
applied=0
for file in "${files[@]}"; do
    name=$(basename -- "$file")
    echo "Applying $name"
    if ! psql --no-psqlrc --no-password --quiet --set=ON_ERROR_STOP=1 --single-transaction --file="$file"; then
        echo "FAILED: $name did not apply (rolled back); the files after it were not run." >&2
        exit 1
    fi
    applied=$((applied + 1))
done
echo "Applied $applied file(s) from $folder."
"""
)

COPY_FOLDER = """\
set -euo pipefail
source=#{Source}
destination=#{Destination}
source=${source%/}
destination=${destination%/}
if [ ! -d "$source" ]; then echo "FAILED: there is no folder $source to copy." >&2; exit 1; fi
if [ -e "$destination" ]; then
    backup="$destination.backup-$(date -u +%Y%m%dT%H%M%SZ)"
    if [ -e "$backup" ]; then backup="$backup-$$"; fi
    cp -a -- "$destination" "$backup"
    echo "Kept the previous content of $destination in $backup"
fi
mkdir -p -- "$destination"
if command -v rsync > /dev/null 2>&1; then
    rsync -a --delete --checksum -- "$source"/ "$destination"/
else
    find "$destination" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
    cp -a -- "$source"/. "$destination"/
fi
echo "Copied $source to $destination."
"""

LIBRARY = [
    {
        "name": "Manual intervention",
        "description": "A person does something and answers Proceed or Abort.",
        "kind": "manual",
        "instructions": "#{Instructions}",
        "script": "",
        "timeout_seconds": 600,
        "parameters": [
            {
                "name": "Instructions",
                "label": "Instructions",
                "help": "Markdown: what to do and how to tell it worked.",
                "default": None,
                "sensitive": False,
            }
        ],
    },
    {
        "name": "Run a script",
        "description": "A bash script that runs by itself; exit code 0 is success.",
        "kind": "script",
        "instructions": "",
        # A script that is one placeholder alone takes the value as the script itself.
        "script": "#{Script}",
        "timeout_seconds": 600,
        "parameters": [
            {
                "name": "Script",
                "label": "Script",
                "help": "Bash; #{Variable} references are filled in when it runs.",
                "default": None,
                "sensitive": False,
            }
        ],
    },
    {
        "name": "HTTP health check",
        "description": 'Automates "Check the application loads as expected": asks a URL until it answers '
        "the expected status and contains the expected text, with retries. Needs curl.",
        "kind": "script",
        "instructions": "",
        "script": HTTP_HEALTH_CHECK,
        "timeout_seconds": 600,
        "parameters": [
            {"name": "Url", "label": "URL", "help": "The page to ask, e.g. https://#{AppHost}/health.", "default": None, "sensitive": False},
            {"name": "ExpectedStatus", "label": "Expected status", "help": "The HTTP status of a healthy answer.", "default": "200", "sensitive": False},
            {"name": "ExpectedText", "label": "Expected text", "help": "Text the answer must contain (empty: any).", "default": "", "sensitive": False},
            {"name": "Retries", "label": "Retries", "help": "How many more times to ask after a bad answer.", "default": "5", "sensitive": False},
            {"name": "DelaySeconds", "label": "Seconds between tries", "help": "", "default": "10", "sensitive": False},
        ],
    },
    {
        "name": "Back up a PostgreSQL database",
        "description": "pg_dump (custom format, for pg_restore) of one database to a file. Needs "
        "postgresql-client where it runs, of the server's major version or newer.",
        "kind": "script",
        "instructions": "",
        "script": POSTGRES_BACKUP,
        "timeout_seconds": 3600,
        "parameters": [
            *POSTGRES_PARAMETERS,
            {
                "name": "OutputPath",
                "label": "Backup file",
                "help": "Where the dump goes, e.g. /var/backups/app-#{Relman.ReleaseVersion}.dump; its folder is made.",
                "default": None,
                "sensitive": False,
            },
        ],
    },
    {
        "name": "Run SQL migrations",
        "description": "psql runs every .sql file of a folder in name order, each in one transaction, "
        "stopping at the first that fails (named). Every file runs each time: write them to be "
        "re-runnable. Needs postgresql-client where it runs.",
        "kind": "script",
        "instructions": "",
        "script": SQL_MIGRATIONS,
        "timeout_seconds": 3600,
        "parameters": [
            *POSTGRES_PARAMETERS,
            {"name": "Folder", "label": "Folder of .sql files", "help": "", "default": None, "sensitive": False},
        ],
    },
    {
        "name": "Copy a folder",
        "description": "Makes the destination a copy of the source (rsync --checksum when present, else cp -a), "
        "keeping the destination's previous content next to it as <destination>.backup-<UTC time>.",
        "kind": "script",
        "instructions": "",
        "script": COPY_FOLDER,
        "timeout_seconds": 1800,
        "parameters": [
            {"name": "Source", "label": "Source folder", "help": "", "default": None, "sensitive": False},
            {"name": "Destination", "label": "Destination folder", "help": "", "default": None, "sensitive": False},
        ],
    },
]


def ship(apps, schema_editor):
    StepTemplate = apps.get_model("processes", "StepTemplate")
    for template in LIBRARY:
        StepTemplate.objects.get_or_create(name=template["name"], defaults={**template, "shipped": True})


def unship(apps, schema_editor):
    StepTemplate = apps.get_model("processes", "StepTemplate")
    StepTemplate.objects.filter(shipped=True, steps__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("processes", "0008_step_templates")]

    operations = [migrations.RunPython(ship, unship)]
