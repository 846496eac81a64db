"""What masking sensitive values costs the task log, and what resolving a release's
variables costs a step (pure functions: no database, no Django).

Method: a Masker of --secrets random 32-character values (a quarter of them multi-line,
four lines each) masks --lines output lines of 80 characters, one in ten holding a secret;
the figure is microseconds per line. Then resolve() picks the values of --names names, each
with an unscoped value and one per --environments environments, for one environment; the
figure is milliseconds per resolution (once per worker task).
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from variables.resolution import Context, Entry, Masker, resolve  # noqa: E402


def _word(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=length))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--secrets", type=int, default=50)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--names", type=int, default=200)
    parser.add_argument("--environments", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(12)

    secrets = [
        "\n".join(_word(rng, 32) for _ in range(4)) if i % 4 == 0 else _word(rng, 32)
        for i in range(args.secrets)
    ]
    lines = [
        _word(rng, 30)
        + (secrets[i % len(secrets)].split("\n")[0] if i % 10 == 0 else _word(rng, 32))
        + _word(rng, 18)
        for i in range(args.lines)
    ]
    masker = Masker(secrets)
    start = time.perf_counter()
    masked = sum("********" in masker.mask(line) for line in lines)
    per_line = (time.perf_counter() - start) / len(lines) * 1e6
    print(
        f"masking: {args.secrets} secrets, {args.lines:,} lines ({masked:,} masked): {per_line:.2f} µs per line"
    )

    environments = [f"env-{n}" for n in range(args.environments)]
    entries = [Entry(f"Name{n}", "unscoped") for n in range(args.names)]
    entries += [
        Entry(f"Name{n}", env, environments=frozenset({env}))
        for n in range(args.names)
        for env in environments
    ]
    rounds = 50
    start = time.perf_counter()
    for _ in range(rounds):
        resolved = resolve(entries, Context(environment=environments[-1]))
    per_resolution = (time.perf_counter() - start) / rounds * 1e3
    print(
        f"resolve: {len(entries):,} values of {args.names} names: {per_resolution:.2f} ms ({len(resolved)} resolved)"
    )


if __name__ == "__main__":
    main()
