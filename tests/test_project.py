"""Docs and packaging that tests keep honest."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from winnow.cli import cli

from support import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_two_commands_and_ci_runs_the_second() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    setup, tests = commands
    assert "winnow screen" in setup and "--model" not in setup, "command 1 runs the embedded default"
    assert "pytest" in tests
    assert tests in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_every_command_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"winnow {name}" in readme, f"winnow {name} is not documented in README.md"


def test_every_python_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    mapped = config["tool"]["setuptools"]["package-dir"]
    on_disk = set()
    for init in REPO.rglob("__init__.py"):
        folder = init.parent.relative_to(REPO)
        if folder.parts[0] in ("tests", "bench", "build", ".venv") or "egg-info" in str(folder):
            continue
        name = ".".join(folder.parts)
        for package, directory in mapped.items():
            root = Path(directory).parts
            if folder.parts[: len(root)] == root:
                name = ".".join((package, *folder.parts[len(root) :]))
        on_disk.add(name)
    assert on_disk <= listed, f"packages missing from pyproject: {sorted(on_disk - listed)}"


def test_loading_the_cli_leaves_heavy_libraries_to_the_commands_that_use_them() -> None:
    """Every command pays for what the CLI module imports: scipy, scikit-learn, langchain and
    the openai SDK belong inside the commands (this cost a 10,000-record cached re-run ~2 s)."""
    import subprocess
    import sys

    probe = (
        "import sys, winnow.cli; heavy = ('scipy', 'sklearn', 'langchain_core', 'openai', 'pandas', 'numpy');"
        "print(' '.join(sorted(m for m in heavy if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == ""
