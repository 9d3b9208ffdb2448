"""The import graph of gru_attn: no circle, and the core pipeline imports only down its data flow.

Read from the source with ``ast`` (nothing is imported), every ``import`` counted, also
those inside functions. Data flow (gru_attn/__init__.py): audio -> features -> labels /
windows -> model -> frame outputs -> notes -> metrics; a module may import its own stage
or an earlier one, never a later one. ``notes.py`` (the note type and its file formats)
and ``frames.py`` (the frame grid) stand on the ground: reference notes are read at the
start, decoded notes written at the end. Modules not named in :data:`FLOW` (entry points,
training loop, corpora, tools) may import any stage.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "gru_attn"

FLOW = [  # stages in data-flow order; a module imports only from its stage or earlier ones
    {"errors", "files", "config", "devices", "frames", "notes"},  # ground: conventions, types, I/O helpers
    {"audio"},
    {"cfp", "features", "pitch", "level"},  # features: CFP, the pitch contour, the audio level
    {"labels", "windows"},  # targets and training windows
    {"contract", "model", "frame_conv", "loss"},  # the model, its output layout and its loss
    {"decode"},  # frame outputs -> notes
    {"metrics"},  # notes -> scores
]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """{module: gru_attn modules it imports} for every module of the package."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from pkg import mod" names a module when pkg.mod is one, else a name of pkg
                targets.update(
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                    for a in node.names
                )
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    graph = import_graph()
    assert "gru_attn.labels" in graph and "gru_attn.frames" in graph["gru_attn.labels"]  # the graph was read
    assert circles(graph) == []


def test_circles_are_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_pipeline_imports_only_down_its_data_flow():
    stage = {f"gru_attn.{m}": i for i, members in enumerate(FLOW) for m in members}
    assert set(stage) <= set(import_graph()), "FLOW names a module that does not exist"
    upward = [
        f"{a} -> {b}"
        for a, targets in sorted(import_graph().items())
        if a in stage
        for b in sorted(targets)
        if stage.get(b, -1) > stage[a]
    ]
    assert upward == []
