"""The README and docs/*.md say only what is true: links, anchors, size, module map, commands.

- every relative link points at a file or folder of the repository, and every ``#anchor``
  names a heading of its target file (GitHub's slug rule);
- README.md stays a map: at most 16 kB;
- every module of the README's module map exists and defines the key function it names;
  every ``gru_attn/...`` path and ``gru_attn.x.y`` name in backticks exists;
- every command of a ``bash`` code block is valid: ``python -m gru_attn.<module> ...``
  parses with that module's own argument parser (in process, stopped right after
  parsing), ``python -m gru_attn.train ...`` overrides compose with
  :func:`gru_attn.config.compose` (a sweep's first value stands for the sweep),
  ``train_gru_attention.py`` flags translate into overrides that compose, pip extras
  exist in ``pyproject.toml``, ``bash`` scripts exist, pytest markers are declared.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the copy pip vendors
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_BYTES = 16_000

# Commands of other programs that may appear in code blocks (not checked further).
EXTERNAL_PROGRAMS = {"tensorboard", "mlflow", "optuna-dashboard"}
# Where backticked repository paths may point (anything else, e.g. outputs/, is generated).
REPO_PREFIXES = ("gru_attn/", "conf/", "tests/", "benchmarks/", "docs/", "experiments/", ".ci/", "hydra_plugins/")


# --------------------------------------------------------------------------- markdown


def split_markdown(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Prose lines (outside fenced code) and the fenced code blocks as (language, lines)."""
    prose, blocks, block = [], [], None
    for line in text.splitlines():
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence and block is None:
            block = (fence.group(1), [])
        elif fence:
            blocks.append(block)
            block = None
        elif block is not None:
            block[1].append(line)
        else:
            prose.append(line)
    assert block is None, "a code fence is not closed"
    return prose, blocks


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading: the rendered text lowercased, punctuation other than
    ``-`` and ``_`` removed, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    prose, _ = split_markdown(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for line in prose:
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = github_slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(path: Path) -> list[str]:
    """Link targets in the prose of ``path`` (inline code removed first)."""
    prose, _ = split_markdown(path.read_text(encoding="utf-8"))
    text = "\n".join(prose)
    text = re.sub(r"`[^`\n]*`", "code", text)
    return re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)


def backticked(path: Path) -> list[str]:
    prose, _ = split_markdown(path.read_text(encoding="utf-8"))
    return re.findall(r"`([^`\n]+)`", "\n".join(prose))


# --------------------------------------------------------------------------- python sources


def defines(module_file: Path, name: str) -> bool:
    """Whether ``module_file`` defines ``name`` at top level (def, class, assignment, import)."""
    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name.split(".")[0]) == name for a in node.names
        ):
            return True
    return False


def module_file(dotted: str) -> Path | None:
    """The source file of a ``gru_attn`` module (``gru_attn.x.y``), or None."""
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def resolve_dotted(dotted: str) -> str | None:
    """None when ``gru_attn.a.b.name`` exists (module, then a name defined in it), else why not."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        path = module_file(".".join(parts[:i]))
        if path is None:
            continue
        rest = parts[i:]
        if not rest or defines(path, rest[0]):
            return None
        return f"{path.relative_to(ROOT)} defines no {rest[0]!r}"
    return "no such module"


# --------------------------------------------------------------------------- links, size, map


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_anchors_resolve(doc):
    problems = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            problems.append(f"{target}: no such file")
            continue
        if ROOT not in (dest, *dest.parents):
            problems.append(f"{target}: outside the repository")
        if anchor:
            if dest.suffix != ".md":
                problems.append(f"{target}: anchor into a non-markdown file")
            elif anchor not in anchors(dest):
                problems.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not problems, "\n".join(problems)


def test_slug_rule_matches_github():
    assert github_slug("`preprocess`: audio → features and pitch files") == "preprocess-audio--features-and-pitch-files"
    assert github_slug("Pitch trackers (`benchmarks/bench_pitch.py`)") == "pitch-trackers-benchmarksbench_pitchpy"
    assert (
        github_slug("Where the study lives: SQLite, journal file or PostgreSQL")
        == "where-the-study-lives-sqlite-journal-file-or-postgresql"
    )


def test_readme_is_a_map_of_at_most_16_kb():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move reference text to docs/"


def module_map_rows() -> list[tuple[str, str]]:
    prose, _ = split_markdown(README.read_text(encoding="utf-8"))
    start = prose.index("### Module map")
    rows = []
    for line in prose[start + 1 :]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith("`gru_attn"):
            rows.append((cells[0].strip("`"), cells[1].strip("`")))
    return rows


def test_module_map_names_existing_modules_and_functions():
    rows = module_map_rows()
    assert len(rows) >= 15, rows
    problems = []
    for module, key in rows:
        path = ROOT / module if "/" in module else module_file(module)
        if path is None or not path.is_file():
            problems.append(f"{module}: no such module")
        elif not defines(path, key):
            problems.append(f"{module}: defines no {key!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_and_names_in_backticks_exist(doc):
    problems = []
    for token in backticked(doc):
        token = token.strip()
        if any(c in token for c in "<>[]* ") or "..." in token:
            continue
        if token.startswith(REPO_PREFIXES) and not (ROOT / token).exists():
            problems.append(f"{token}: no such path")
        elif re.fullmatch(r"gru_attn(\.\w+)+", token):
            why = resolve_dotted(token)
            if why:
                problems.append(f"{token}: {why}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- commands


COMMAND_START = ("python ", "python3 ", "pip ", "bash ")


def commands(doc: Path) -> list[list[str]]:
    """Each command of ``doc`` as argv: every line of its ``bash`` blocks (comments,
    continuations, ``&&`` chains and leading VAR=value assignments handled) and every inline
    code span that starts with python, pip or bash and has no ``<placeholder>``."""
    _, blocks = split_markdown(doc.read_text(encoding="utf-8"))
    lines = []
    for lang, block in blocks:
        if lang in ("bash", "sh", "shell"):
            lines += "\n".join(block).replace("\\\n", " ").splitlines()
    lines += [span for span in backticked(doc) if span.startswith(COMMAND_START) and "<" not in span]
    out = []
    for line in lines:
        tokens = shlex.split(line, comments=True)
        while tokens:
            cut = tokens.index("&&") if "&&" in tokens else len(tokens)
            argv, tokens = tokens[:cut], tokens[cut + 1 :]
            while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
                argv = argv[1:]
            if argv:
                out.append(argv)
    return out


ALL_COMMANDS = [(doc, argv) for doc in DOC_FILES for argv in commands(doc)]


class _Parsed(Exception):
    """Raised instead of running a command once its arguments parsed."""


def parse_only(monkeypatch, module: str, args: list[str]) -> argparse.Namespace:
    """Run ``module.main(args)`` up to and including its argument parsing, nothing after."""
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
    main = importlib.import_module(module).main
    try:
        main(list(args))
    except _Parsed as parsed:
        return parsed.args[0]
    raise AssertionError(f"{module}.main({args}) did not parse its arguments")


def first_of_sweeps(overrides: list[str]) -> list[str]:
    """Hydra overrides with every sweep (``a,b``, ``choice``, ``range``, ``interval``) replaced
    by its first value, so that one run of a multirun composes."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import IntervalSweep

    out = []
    for text, override in zip(overrides, OverridesParser.create().parse_overrides(overrides)):
        if not override.is_sweep_override():
            out.append(text)
            continue
        value = override.value()
        first = value.start if isinstance(value, IntervalSweep) else next(iter(override.sweep_string_iterator()))
        out.append(f"{override.get_key_element()}={first}")
    return out


def check_train_overrides(args: list[str], multirun: bool = False, config_name: str = "train") -> None:
    """The Hydra overrides of a ``train`` example (or of another Hydra app's: ``config_name``) compose."""
    from gru_attn.config import compose

    overrides = []
    args = list(args)
    while args:
        arg = args.pop(0)
        if arg in ("--multirun", "-m"):
            multirun = True
        elif arg in ("--cfg", "-c", "--package", "-p"):  # Hydra's flags that take a value
            args.pop(0)
        elif arg in ("--resolve", "--info", "--help", "-h", "--hydra-help"):
            pass
        elif arg.startswith("-"):
            raise AssertionError(f"train: unexpected flag {arg!r} in an example")
        else:
            overrides.append(arg)
    if multirun:
        overrides = first_of_sweeps(overrides)
    cfg = compose(overrides, config_name=config_name)
    assert (cfg.model if config_name == "train" else cfg.decode)._target_.startswith("gru_attn.")


def check_pip(args: list[str]) -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for arg in args:
        m = re.fullmatch(r"(?:gru_attn|\.)\[([\w,-]+)\]", arg)
        if m:
            missing = set(m.group(1).split(",")) - extras
            assert not missing, f"pip install {arg}: no extra {sorted(missing)} in pyproject.toml"


def check_pytest(args: list[str]) -> None:
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    declared = {m.split(":")[0].strip() for m in markers}
    if "-m" in args:
        expression = args[args.index("-m") + 1]
        used = set(re.findall(r"\w+", expression)) - {"not", "and", "or"}
        assert used <= declared, f"pytest -m {expression!r}: undeclared marker(s) {sorted(used - declared)}"


def command_id(item) -> str:
    doc, argv = item
    return f"{doc.relative_to(ROOT)}: {' '.join(argv)[:70]}"


# The README's commands are checked in the fast loop; those of docs/ (about 20 more config
# compositions) only in the full run.
@pytest.mark.parametrize(
    "item", [pytest.param(c, id=command_id(c), marks=() if c[0] == README else pytest.mark.slow) for c in ALL_COMMANDS]
)
def test_command_in_docs_is_valid(item, monkeypatch, capsys):
    _, argv = item
    program, args = argv[0], argv[1:]
    if program in ("python", "python3"):
        if args[:1] == ["-m"]:
            module, rest = args[1], args[2:]
            if module == "pytest":
                check_pytest(rest)
            elif module == "gru_attn.train":
                check_train_overrides(rest)
            elif module == "gru_attn.decode_study":  # a Hydra app too: its overrides compose
                check_train_overrides(rest, config_name="decode_study")
            else:
                assert module.startswith("gru_attn."), f"unknown module {module}"
                assert importlib.util.find_spec(module) is not None, f"no module {module}"
                parse_only(monkeypatch, module, rest)
                if "--" in rest:  # gru_attn.sweep.workers: what follows -- goes to a train multirun
                    check_train_overrides(rest[rest.index("--") + 1 :], multirun=True)
        elif args[0] == "train_gru_attention.py":
            assert (ROOT / args[0]).is_file()
            from gru_attn import compat

            compat.main([*args[1:], "--print-overrides"] if "--print-overrides" not in args else args[1:])
            check_train_overrides(capsys.readouterr().out.split())
        elif args[0].startswith("benchmarks/") and args[0].endswith(".py"):  # a benchmark script: it parses
            assert (ROOT / args[0]).is_file(), f"{args[0]}: no such script"
            spec = importlib.util.spec_from_file_location("bench_under_test", ROOT / args[0])
            bench = importlib.util.module_from_spec(spec)
            monkeypatch.setitem(sys.modules, spec.name, bench)
            spec.loader.exec_module(bench)
            bench.parse_args(args[1:])  # its options parse
        else:
            raise AssertionError(f"unknown python command {argv}")
    elif program == "pip":
        check_pip(args)
    elif program == "bash":
        assert (ROOT / args[0]).is_file(), f"bash {args[0]}: no such script"
    else:
        assert program in EXTERNAL_PROGRAMS, f"unknown program {program!r} (add it to EXTERNAL_PROGRAMS if meant)"


def test_readme_shows_the_two_commands():
    _, blocks = split_markdown(README.read_text(encoding="utf-8"))
    first = "\n".join(blocks[0][1])
    assert "pip install torch==2.13.0 -e . && python -m gru_attn.train" in first
    assert "bash tests/setup.sh && python -m pytest" in first
    assert "bash tests/setup.sh && python -m pytest" in (ROOT / ".ci" / "run").read_text()  # CI runs command 2


def readme_modules() -> list[str]:
    """The modules behind the README's commands (``train_gru_attention.py`` is ``gru_attn.compat``)."""
    modules = set()
    for argv in commands(README):
        if argv[:2] == ["python", "-m"] and argv[2].startswith("gru_attn."):
            modules.add(argv[2])
        elif argv[:2] == ["python", "train_gru_attention.py"]:
            modules.add("gru_attn.compat")
    return sorted(modules)


@pytest.mark.parametrize("module", [m for m in readme_modules() if m != "gru_attn.train"])
def test_help_of_every_readme_module(module, capsys):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code in (0, None)
    assert "usage:" in capsys.readouterr().out


@pytest.mark.slow  # composes the whole config once more (the README's train commands are composed above)
def test_help_of_train(monkeypatch, capsys):
    from hydra.core.global_hydra import GlobalHydra

    from gru_attn import train

    monkeypatch.setattr(sys, "argv", ["train.py", "--help"])
    try:
        with pytest.raises(SystemExit) as exit_info:
            train.main()
    finally:
        GlobalHydra.instance().clear()
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "model" in out and "trainer" in out


# --------------------------------------------------------------------------- config keys

CONFIG_KEY = re.compile(
    r"(?:seed|optimized_\w+|loss|decode|inference|trainer|data|model|optimizer|scheduler"
    r"|logger|hydra)\.[\w.]+"
)
# Compositions whose keys together cover every config key the docs may name.
KEY_SOURCES = [
    [],
    ["data=vocano"],
    ["logger=mlflow"],
    ["logger=tensorboard"],
    ["scheduler=warmup_cosine"],
    ["hparams_search=optuna", "hydra/launcher=gpus"],
    ["hparams_search=optuna", "hydra/launcher=slurm"],
]


def flat_keys(node, prefix="") -> set[str]:
    if isinstance(node, dict):
        out = {prefix[:-1]} if prefix else set()
        for key, value in node.items():
            out |= flat_keys(value, f"{prefix}{key}.")
        return out
    return {prefix[:-1]}


@pytest.mark.slow  # six compositions
def test_config_keys_named_in_docs_exist():
    from omegaconf import OmegaConf

    from gru_attn.config import compose

    known = set()
    for overrides in KEY_SOURCES:
        known |= flat_keys(OmegaConf.to_container(compose(overrides), resolve=False))
    problems = []
    for doc in DOC_FILES:
        for span in backticked(doc):
            for word in span.split():
                key = word.split("=")[0].rstrip(".")
                if "<" in word or word.startswith("+"):  # a placeholder, or a key the override adds
                    continue
                if CONFIG_KEY.fullmatch(key) and key not in known:
                    problems.append(f"{doc.relative_to(ROOT)}: `{span}`: no config key {key!r}")
    assert not problems, "\n".join(problems)
