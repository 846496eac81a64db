"""Schemathesis against the running app: every operation of /api/v1/schema/, with
generated valid and invalid input and stateful sequences that follow the schema's links,
as a superuser. No response may be a server error, and every response must be one the
schema documents: its status, content type, headers and body.

It runs schemathesis's own command line against ``live_server``, so a failure shows its
usual report with a curl command that reproduces it. RELMAN_FUZZ_EXAMPLES (default 20 per
operation) and RELMAN_FUZZ_SEED (default 1) make a deeper or a different run.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    # Stateful sequences: what was deleted is gone, what was created can be read.
    "use_after_free",
    "ensure_resource_availability",
]


def test_api_conforms_to_its_schema(world, tmp_path):
    schemathesis = Path(sys.executable).parent / "schemathesis"
    if not schemathesis.exists():
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'")
    command = [
        str(schemathesis),
        "run",
        f"{world.url}/api/v1/schema/",
        "--header",
        f"Authorization: Bearer {world.key}",
        # A kept-alive connection to the test server stalls ~40 ms per request on delayed
        # ACKs; a fresh connection each time is several times faster.
        "--header",
        "Connection: close",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        os.environ.get("RELMAN_FUZZ_EXAMPLES", "20"),
        "--seed",
        os.environ.get("RELMAN_FUZZ_SEED", "1"),
        "--workers",
        "1",
        "--suppress-health-check",
        "all",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=540, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
