"""Schemathesis (the CLI, every check on) against a running server, as an
outside API tester would. Used by tests/api/test_openapi_fuzz.py on the test
server, and by hand against `make run`:

    .venv/bin/python tests/support/openapi_fuzz.py http://localhost:8000 --seed 7 --examples 25 \
        [--token ACCESS_TOKEN]

The document is the only input: every operation it lists is tested, so the
endpoints other branches add are covered as soon as they are documented.
Where an operation states statuses it answers to input the document allows
(``x-valid-input-statuses``, explained in its response descriptions: a
duplicate name answers 400 as the spec prescribes), the positive-data check
expects them for that operation only; no check is switched off.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def fetch_document(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/api/schema/", timeout=30) as resp:
        return json.loads(resp.read())


ROLES = {None: 0, "user": 1, "admin": 2}


def config_toml(document: dict, seed: int, examples: int, caller: str | None = None) -> str:
    """schemathesis.toml: the run's settings and, per operation, what the document says about it.

    ``caller`` (None, "user" or "admin"): operations that need a role the caller
    lacks answer 401/403 to anything, so their coverage phase (hundreds of
    boundary cases each) is left to a caller who has the role; the examples and
    fuzzing phases still run on them, with every check."""
    lines = [
        f"seed = {seed}",
        "[generation]",
        f"max-examples = {examples}",
        'database = "none"',
    ]
    for item in document["paths"].values():
        for op in item.values():
            settings = []
            statuses = op.get("x-valid-input-statuses")
            if statuses:
                expected = POSITIVE_DEFAULT + [str(s) for s in statuses]
                settings.append(f"checks.positive_data_acceptance.expected-statuses = {json.dumps(expected)}")
            if ROLES[op.get("x-required-role")] > ROLES[caller]:
                settings.append("phases.coverage.enabled = false")
            if settings:
                lines += ["", "[[operations]]", f'include-operation-id = "{op["operationId"]}"', *settings]
    return "\n".join(lines) + "\n"


def run(base_url: str, *, seed: int, examples: int, token: str | None = None, role: str | None = None,
        workers: int = 2,
        phases: str = "examples,coverage,fuzzing", extra: list[str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """Run schemathesis; returns the finished process (``returncode`` 0: nothing found)."""
    document = fetch_document(base_url)
    st = Path(sys.executable).with_name("st")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(config_toml(document, seed, examples, role))
        cmd = [str(st), "--config-file", str(config), "run", f"{base_url}/api/schema/", "--url", base_url,
               "--checks", "all", "--phases", phases, "--workers", str(workers), "--no-color",
               "--request-timeout", "30", "--output-truncate", "true"]
        if token:
            cmd += ["-H", f"Authorization: Bearer {token}"]
        cmd += extra or []
        env = dict(os.environ, SCHEMATHESIS_HOOKS="", PYTHONWARNINGS="ignore")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp, env=env)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += f"\nschemathesis did not finish within {timeout:.0f} s and was stopped"
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", nargs="?", default="http://localhost:8000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=25)
    parser.add_argument("--token", help="access token of the caller (none: anonymous)")
    parser.add_argument("--role", choices=["user", "admin"],
                        help="the caller's role: skip the coverage phase where it lacks the role needed")
    parser.add_argument("--workers", type=int, default=2)
    args, extra = parser.parse_known_args()
    result = run(args.base_url.rstrip("/"), seed=args.seed, examples=args.examples, token=args.token, role=args.role,
                 workers=args.workers, extra=extra, timeout=3600)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
