"""An API key, from a flag or the environment, never appears in any output.

Every file a run leaves behind (decisions, ledger and its WAL, temp files) and
everything it prints is searched byte for byte. The server used for the error
cases echoes the key it refused, as some real providers do, so the key reaches
winnow inside an error body and must still not be stored or shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from instant_server import InstantServer

from support import DENNSTAEDT, run_cli

KEY_FLAG = "sk-flag-5b7e0c1d9a8f4e2b"
KEY_ENV = "sk-env-0f3a9c7d21e64b58"
KEY_WINNOW_ENV = "sk-winnowenv-77aa31c2d9e0"


def leaks(workdir: Path, outputs: list[str], secrets: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted(workdir.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {s}" for s in secrets if s.encode() in data]
    for index, text in enumerate(outputs):
        found += [f"output {index}: {s}" for s in secrets if s in text]
    return found


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("flag", None),
        ("flag=", None),
        ("env", None),
        ("winnow-env", None),
        ("flag", 401),
        ("env", 401),
        ("flag", 429),
        ("env", 500),
    ],
)
def test_api_key_is_in_no_output(
    tmp_path: Path, how: str, status: int | None, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    secrets = (KEY_FLAG, KEY_ENV, KEY_WINNOW_ENV)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WINNOW_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    extra: list[str] = []
    if how == "flag":
        extra = ["--api-key", KEY_FLAG]
    elif how == "flag=":
        extra = [f"--api-key={KEY_FLAG}"]
    elif how == "env":
        monkeypatch.setenv("OPENAI_API_KEY", KEY_ENV)
    else:
        monkeypatch.setenv("WINNOW_API_KEY", KEY_WINNOW_ENV)
    with InstantServer(echo_auth_status=status) as server:
        code = run_cli(
            "screen",
            str(DENNSTAEDT / "records.csv"),
            "--protocol",
            str(DENNSTAEDT / "protocol.yaml"),
            "--model",
            "openai:instant",
            "--base-url",
            server.base_url,
            "--no-progress",
            "--out",
            str(tmp_path / "out" / "decisions.csv"),
            "--limit",
            "3",
            "--max-attempts",
            "2",
            *extra,
        )
    printed = capfd.readouterr()
    assert server.requests > 0
    assert code == 0, printed.err
    if status is not None:
        assert "Incorrect API key provided" in (tmp_path / "out" / "decisions.csv").read_text(encoding="utf-8")
    found = leaks(tmp_path, [printed.out, printed.err], secrets)
    assert found == [], f"API key leaked: {found}"


def test_the_retry_command_masks_the_key(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with InstantServer(echo_auth_status=503) as server:
        args = [
            "screen",
            str(DENNSTAEDT / "records.csv"),
            "--protocol",
            str(DENNSTAEDT / "protocol.yaml"),
            "--model",
            "openai:instant",
            "--base-url",
            server.base_url,
            "--no-progress",
            "--out",
            str(tmp_path / "decisions.csv"),
            "--limit",
            "2",
            "--max-attempts",
            "1",
            "--api-key",
            KEY_FLAG,
        ]
        run_cli(*args)
    err = capfd.readouterr().err
    assert "left undecided" in err
    assert "--api-key '***'" in err or "--api-key ***" in err
    assert KEY_FLAG not in err
