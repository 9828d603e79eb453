"""The README's walk-through, read from README.md itself (and from docs/*.md).

A block marked `<!-- walkthrough -->` before its ```sh fence is run as one bash
script (`-e -o pipefail`), with the ports `serve --demo` uses by default (8080 for
HTTP, 1025 and 2525 for the demo gateways and the SMTP sink, 2587 for SMTP
submission) replaced by those of the service under test, so that the test can run
beside a demo already running.
Each answer the README promises is a `# → text` comment after the commands that
print it; a following line starting with `#    ` continues it. Consecutive `# →`
lines are the lines of one output, in order. In `text`, `…` stands for anything;
the rest must match exactly. Every line the commands print must be promised, none
may be missing.

`python -m tests.support.walkthrough PORT` runs the blocks against a `serve --demo`
you started on PORT.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
DOCS = PROJECT / "docs"
# `serve --demo`'s defaults as the README writes them: HTTP, then --demo-smtp-ports, then
# SMTP submission (NAVIXY_PANEL_SUBMISSION_PORT).
DEMO_PORTS = (8080, 1025, 2525, 2587)
Ports = tuple[int, int, int, int]
MARKER = "<!-- walkthrough -->"
PROMISE = "# → "
CONTINUED = "#    "
SEPARATOR = "@@walkthrough-step@@"
# curl prints answers without a final newline: one line per answer here, so each
# can be told from the next. Nothing else about the commands is changed.
PRELUDE = 'curl() { command curl "$@"; local status=$?; echo; return $status; }\n'


@dataclass(frozen=True)
class Block:
    heading: str
    code: str


@dataclass(frozen=True)
class Script:
    text: str
    promises: list[list[str]]  # per step, the expected output lines


def documents() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def blocks(files: list[Path] | None = None) -> list[Block]:
    """The marked blocks of `files` (README.md, then docs/*.md), in order."""
    found = []
    for file in documents() if files is None else files:
        found += _blocks(file)
    return found


def _blocks(document: Path) -> list[Block]:
    found = []
    heading = ""
    fenced = False
    lines = document.read_text().split("\n")
    for index, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            heading = line.lstrip("#").strip()
        elif not fenced and line.strip() == MARKER:
            assert lines[index + 1] == "```sh", f"{MARKER} must be followed by ```sh"
            end = lines.index("```", index + 2)
            found.append(Block(heading, "\n".join(lines[index + 2:end])))
    return found


def with_ports(code: str, ports: Ports) -> str:
    """`code` with each of DEMO_PORTS replaced by the matching one of `ports`."""
    given = dict(zip(DEMO_PORTS, ports, strict=True))
    return re.sub(r"\b(8080|1025|2525|2587)\b", lambda found: str(given[int(found[1])]),
                  code)


def script(block: Block, ports: Ports) -> Script:
    code = with_ports(block.code, ports)
    out: list[str] = [PRELUDE]
    promises: list[list[str]] = []
    current: list[str] | None = None
    for line in code.split("\n"):
        if line.startswith(PROMISE):
            if current is None:
                current = []
                promises.append(current)
                out.append(f"echo {SEPARATOR}")
            current.append(line[len(PROMISE):])
        elif line.startswith(CONTINUED) and current:
            current[-1] += line[len(CONTINUED):]
        else:
            current = None
            out.append(line)
    return Script("\n".join(out) + "\n", promises)


def pattern(promise: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in promise.split("…")), re.S)


def check(result: Script, stdout: str) -> list[str]:
    """Every mismatch between what the block printed and what the README promises."""
    chunks = stdout.split(SEPARATOR + "\n")
    problems = []
    if chunks[-1].strip():
        problems.append(f"printed without a promise after the last one: {chunks[-1]!r}")
    for promised, chunk in zip(result.promises, chunks, strict=False):
        printed = [line for line in chunk.split("\n") if line.strip()]
        if len(printed) != len(promised):
            problems.append(f"promised {len(promised)} line(s) {promised!r}, "
                            f"printed {len(printed)}: {printed!r}")
            continue
        for want, got in zip(promised, printed, strict=True):
            if not pattern(want).fullmatch(got.strip()):
                problems.append(f"promised {want!r}\n      printed {got.strip()!r}")
    if len(chunks) - 1 != len(result.promises):
        problems.append(f"{len(result.promises)} promises, {len(chunks) - 1} reached")
    return problems


def run(block: Block, ports: Ports, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs `block` against the service on `ports` (HTTP, own SMTP, relay SMTP, SMTP
    submission)."""
    made = script(block, ports)
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", made.text], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)
    problems = check(made, done.stdout)
    if done.returncode != 0:
        problems.insert(0, f"exit status {done.returncode}: {done.stderr.strip()}")
    return done, problems


if __name__ == "__main__":
    target = (int(sys.argv[1]) if len(sys.argv) > 1 else 8080, *DEMO_PORTS[1:])
    failed = False
    for each in blocks():
        _, found = run(each, target)  # type: ignore[arg-type]
        sys.stdout.write(f"{'FAIL' if found else 'ok  '} {each.heading}\n")
        for problem in found:
            sys.stdout.write(f"    {problem}\n")
        failed = failed or bool(found)
    sys.exit(1 if failed else 0)
