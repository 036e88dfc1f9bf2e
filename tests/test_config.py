"""Configuration: every ZHSEARCH_* variable is read as text, whatever it looks like, by the library,
the app and the CLI alike; a value that does not fit its setting is one clear line, never a
traceback."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from search import ConfigError, Settings, load_settings
from search.config import variable
from tests.conftest import zhsearch_command, zhsearch_env
from web import create_app
from web.searcher import close_searcher

# Values that a JSON- or YAML-minded parser would turn into a number, a boolean or a list.
LOOKALIKES = ["2024", "true", "[]"]
KINDS = {field.name: str(field.type) for field in fields(Settings)}


def _accepted(name: str, kind: str, raw: str) -> object | None:
    """What setting ``name`` of ``kind`` must hold for ``raw``, or None when it must refuse it."""
    if name == "engine":
        return None  # an engine's name (whoosh, opensearch): no lookalike is one
    if kind == "tuple[str, ...]":  # node URLs, comma-separated
        return (raw,)
    if kind.startswith("tuple"):
        return (Path(raw),)
    if kind == "Path":
        return Path(raw)
    if kind == "str":
        return raw
    if kind == "bool":
        return True if raw == "true" else None
    if kind == "float":
        return float(raw) if raw.isdigit() else None
    return int(raw) if raw.isdigit() else None


@pytest.mark.parametrize("raw", LOOKALIKES)
@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_variable_is_read_as_text_or_refused_in_one_line(name: str, raw: str) -> None:
    expected = _accepted(name, KINDS[name], raw)
    if name == "per_page" and expected is not None:
        # A default page size above the maximum (100) is refused, naming both.
        with pytest.raises(ConfigError, match=r"^ZHSEARCH_PER_PAGE \(2024\) is more than "
                                              r"ZHSEARCH_MAX_PER_PAGE \(100\)$"):
            load_settings({variable(name): raw})
        assert load_settings({variable(name): raw, "ZHSEARCH_MAX_PER_PAGE": raw}).per_page == 2024
    elif expected is None:
        with pytest.raises(ConfigError) as refused:
            load_settings({variable(name): raw})
        message = str(refused.value)
        assert message.startswith(f"{variable(name)} must be ") and repr(raw) in message
        assert "\n" not in message
    else:
        assert getattr(load_settings({variable(name): raw}), name) == expected


def _environment(raw: str | None) -> dict[str, str]:
    """Every setting's variable set to ``raw``; None: each to the lookalike it accepts (none
    for a setting that accepts no lookalike)."""
    env = {}
    for name, kind in KINDS.items():
        if raw is not None:
            env[variable(name)] = raw
        elif (value := next((v for v in LOOKALIKES if _accepted(name, kind, v) is not None),
                            None)) is not None:
            env[variable(name)] = value
    return env


def test_a_smaller_maximum_page_size_lowers_the_default() -> None:
    settings = load_settings({"ZHSEARCH_MAX_PER_PAGE": "3"})
    assert (settings.per_page, settings.max_per_page) == (3, 3)


def test_the_app_starts_with_every_variable_set_to_a_lookalike(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in _environment(None).items():
        monkeypatch.setenv(name, value)
    app = create_app()
    try:
        client = app.test_client()
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.get_json()["error"]["code"] == "no_index"
        assert "2024" in health.get_json()["error"]["message"]  # ZHSEARCH_INDEX_DIR=2024
        assert client.get("/api/search?q=工业&per_page=2024").status_code == 503
        assert client.get("/api/search?q=工业&per_page=2025").status_code == 400
        assert client.get("/api/analyze?text=工业").status_code == 200
    finally:
        close_searcher(app)


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(zhsearch_command(*args), capture_output=True, text=True, cwd=cwd,
                          env=zhsearch_env() | env, timeout=120, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_cli_and_its_server_start_with_every_variable_set_to_a_lookalike(
    tmp_path: Path,
) -> None:
    env = _environment(None)
    query = _run(env, tmp_path, "query", "工业")
    assert query.returncode == 1
    assert query.stderr.startswith("Error: ") and "2024" in query.stderr
    assert query.stderr.count("\n") == 1 and "Traceback" not in query.stderr

    server = subprocess.Popen(
        zhsearch_command("serve", "--port", str(_free_port())), cwd=tmp_path,
        env=zhsearch_env() | env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:  # the server says what it serves, then serves
            lines.append(line)
            if "serving" in line:
                break
        assert lines[-1].startswith("zhsearch: serving 2024 at http://127.0.0.1:"), lines
        assert "Traceback" not in "".join(lines)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


@pytest.mark.parametrize("raw", ["true", "[]"])
@pytest.mark.parametrize("command", [("query", "工业"), ("serve",), ("build",)])
def test_the_cli_refuses_a_setting_that_does_not_fit_in_one_line(
    tmp_path: Path, raw: str, command: tuple[str, ...]
) -> None:
    result = _run(_environment(raw), tmp_path, *command)
    assert result.returncode == 1
    # The first setting that cannot hold the value is named, with the value.
    assert result.stderr == (f"Error: ZHSEARCH_PER_PAGE must be a whole number of 1 or more, "
                             f"not {raw!r}\n")
