"""Dependencies point one way: the rules of the package layout, checked on the source.

Every ``import`` and ``from ... import`` in ``callscribe/`` counts, at module level or inside a
function, since a late import is still a dependency. The rooms are the sub-packages and the
top-level modules (``callscribe.ledger`` is a room of its own).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "callscribe"

STAGES = {"audio", "transcribe", "summarize"}
ENTRY_POINTS = {"web", "worker", "cli"}


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "callscribe" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _is_room(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def room_graph() -> dict[str, set[str]]:
    """Which rooms each room imports (itself left out)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source_room = _room(_module_name(path))
        if source_room is None:
            continue
        graph.setdefault(source_room, set())
        for module in _imports(path):
            target = _room(module)
            if target is not None and target != source_room and _is_room(target):
                graph[source_room].add(target)
    return dict(graph)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_there_is_no_import_cycle_between_rooms() -> None:
    assert _cycle(room_graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_only_commands_import_the_web_app_the_worker_or_the_cli() -> None:
    offenders = {
        (room, target)
        for room, targets in room_graph().items()
        for target in targets & ENTRY_POINTS
        if room != "cli"
    }
    assert offenders == set()


def test_the_web_app_never_imports_the_worker_or_transcription() -> None:
    assert room_graph()["web"] & {"worker", "transcribe"} == set()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stages_import_only_stages_and_shared_definitions(stage: str) -> None:
    allowed = STAGES | {"schema", "errors", "defaults", "settings", "subtitles"}
    assert room_graph()[stage] - allowed == set()


def test_the_subtitle_formats_are_a_shared_definition() -> None:
    """Stages and the web app both render with ``callscribe.subtitles``: it knows only schema."""
    assert room_graph()["subtitles"] <= {"schema"}


def test_the_desk_and_intake_know_no_web_framework() -> None:
    for room in ("desk", "intake", "writeback"):
        for path in (PACKAGE / room).rglob("*.py"):
            imported = {m.split(".")[0] for m in _imports(path)}
            assert imported.isdisjoint({"fastapi", "starlette", "uvicorn"}), path


def test_the_rules_see_a_violation() -> None:
    """The graph is built from the source: a stage importing the desk would show."""
    graph = room_graph()
    assert "desk" in graph["web"] and "intake" in graph["web"]
    assert "summarize" in graph["pipeline"]


def _modules_loaded_by(statement: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{statement}; import sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_stages_load_nothing_of_the_queue_the_ledger_or_the_desk() -> None:
    loaded = _modules_loaded_by(
        "import callscribe.audio, callscribe.transcribe, callscribe.summarize"
    )
    forbidden = {
        m
        for m in loaded
        if m.startswith(
            (
                "callscribe.worker",
                "callscribe.intake",
                "callscribe.desk",
                "callscribe.writeback",
                "callscribe.web",
                "callscribe.ledger",
                "rq",
            )
        )
    }
    assert forbidden == set()


def test_the_web_app_loads_neither_whisper_nor_the_worker() -> None:
    loaded = _modules_loaded_by("import callscribe.web.app")
    heavy = {
        m
        for m in loaded
        if m.startswith(
            (
                "faster_whisper",
                "ctranslate2",
                "whisper",
                "torch",
                "callscribe.transcribe",
                "callscribe.worker",
            )
        )
    }
    assert heavy == set()
