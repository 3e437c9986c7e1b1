#!/usr/bin/env python3
"""Keeps the crates' structure one-way (run by `packaging/dev.sh test`).

1. No module cycle in any crate: for every folder of modules, the dependencies between its
   children (and the folder's own file, as one more member) must form no cycle. A `use` of
   `crate::a::b::c` from `crate::a::d` counts as `b` <- `d`; a child's `use super::X` counts
   as the child depending on its parent's own file. `pub use` re-exports and `mod`
   declarations are structure, not use, and do not count.
2. The gateway's domain knows nothing of HTTP: outside `server/src/http/`, `startup.rs` and
   `main.rs` no file names `crate::http` or `axum`.

Prints each cycle or offending line and exits 1 when there is one.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = {
    "server (lib)": ROOT / "server/src/lib.rs",
    "server (bin)": ROOT / "server/src/main.rs",
    "wire": ROOT / "server/wire/src/lib.rs",
    "dhis2-double (lib)": ROOT / "server/dhis2-double/src/lib.rs",
    "dhis2-double (bin)": ROOT / "server/dhis2-double/src/main.rs",
    "test-support": ROOT / "server/test-support/src/lib.rs",
    "ui (lib)": ROOT / "ui/src/lib.rs",
    "ui (bin)": ROOT / "ui/src/main.rs",
    "desktop": ROOT / "desktop/src/main.rs",
}
HTTP_FREE = ROOT / "server/src"
HTTP_ALLOWED = {"http", "startup.rs", "main.rs"}

MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
USE_STMT = re.compile(r"(?<![\w:])(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
PATH = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)")


def strip(source: str) -> str:
    """The code without comments, string or char literals (so their words are not paths)."""
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    source = re.sub(r'r(#*)".*?"\1', '""', source, flags=re.S)
    source = re.sub(r'"(?:\\.|[^"\\])*"', '""', source, flags=re.S)
    source = re.sub(r"'(?:\\.|[^'\\])'", "' '", source)
    source = re.sub(r"//[^\n]*", "", source)
    return inline_modules_as_their_file(source)


def inline_modules_as_their_file(code: str) -> str:
    """Inside an inline `mod tests { ... }`, `super` is the file's own module: say `self`."""
    out, position = [], 0
    for start in re.finditer(r"(?<![\w])mod\s+\w+\s*\{", code):
        if start.start() < position:
            continue
        depth, end = 0, start.end() - 1
        for end in range(start.end() - 1, len(code)):
            depth += {"{": 1, "}": -1}.get(code[end], 0)
            if depth == 0:
                break
        out.append(code[position : start.end()])
        out.append(re.sub(r"(?<![\w:])super(?=::|\s*;|\s*\})", "self", code[start.end() : end]))
        position = end
    out.append(code[position:])
    return "".join(out)


def expand(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [`a::b`, `a::c::d`, `a::c::e`]."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    if "{" not in tree:
        return [re.sub(r"::(self|\*)$", "", tree)]
    prefix, rest = tree.split("{", 1)
    inner = rest[: rest.rindex("}")]
    parts, depth, current = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    parts.append(current)
    out = []
    for part in filter(None, parts):
        for sub in expand(part):
            out.append((prefix + sub) if sub not in ("self", "*") else prefix.rstrip(":"))
    return out


class Crate:
    def __init__(self, root: Path):
        self.files: dict[tuple, Path] = {}
        self.children: dict[tuple, set] = {}
        self.load((), root)

    def load(self, module: tuple, path: Path):
        self.files[module] = path
        self.children[module] = set()
        folder = path.parent if path.name in ("lib.rs", "main.rs", "mod.rs") else path.with_suffix("")
        for name in MOD_DECL.findall(strip(path.read_text())):
            for candidate in (folder / f"{name}.rs", folder / name / "mod.rs"):
                if candidate.exists():
                    self.children[module].add(name)
                    self.load(module + (name,), candidate)
                    break

    def resolve(self, module: tuple, path: str):
        """The module a path names (its longest module prefix), or None outside the crate."""
        segments = path.split("::")
        if segments[0] == "crate":
            base, segments = (), segments[1:]
        elif segments[0] in ("super", "self"):
            base = module
            while segments and segments[0] in ("super", "self"):
                if segments[0] == "super":
                    base = base[:-1]
                segments = segments[1:]
        elif segments[0] in self.children.get(module, ()):
            base = module
        else:
            return None
        target = base
        for segment in segments:
            if segment in self.children.get(target, ()):
                target = target + (segment,)
            else:
                break
        return target

    def dependencies(self, module: tuple) -> dict[tuple, str]:
        """Module -> the first path in `module`'s file that names it."""
        code = strip(self.files[module].read_text())
        found = {}
        for reexport, tree in USE_STMT.findall(code):
            if not reexport:
                for path in expand(tree):
                    target = self.resolve(module, path)
                    if target is not None:
                        found.setdefault(target, path)
        code = USE_STMT.sub(" ", code)
        local = "|".join(map(re.escape, sorted(self.children.get(module, ())))) or r"(?!x)x"
        for path in re.findall(rf"(?<![\w:])((?:crate|super|self|{local})(?:::\w+)+)", code):
            target = self.resolve(module, path)
            if target is not None:
                found.setdefault(target, path)
        return found


def cycles_in(crate: Crate) -> list[str]:
    """Cycles among the members of each folder (its children and its own file `(self)`)."""
    edges: dict[tuple, dict] = {}
    for module in crate.files:
        for target, path in crate.dependencies(module).items():
            if target == module:
                continue
            # The common ancestor, and the member of it on each side.
            common = 0
            while common < min(len(module), len(target)) and module[common] == target[common]:
                common += 1
            folder = module[:common]
            source = module[common] if len(module) > common else "(self)"
            dest = target[common] if len(target) > common else "(self)"
            if source != dest:
                edges.setdefault(folder, {}).setdefault((source, dest), f"{'::'.join(module) or 'crate'}: {path}")
    problems = []
    for folder, pairs in sorted(edges.items()):
        graph: dict[str, set] = {}
        for source, dest in pairs:
            graph.setdefault(source, set()).add(dest)
        for cycle in find_cycles(graph):
            steps = " -> ".join(cycle + [cycle[0]])
            if len(cycle) < len(component_of(graph, cycle[0])):
                steps += f" (one of {len(component_of(graph, cycle[0]))} modules in a circle: {', '.join(sorted(component_of(graph, cycle[0])))})"
            why = "; ".join(pairs[(a, b)] for a, b in zip(cycle, cycle[1:] + [cycle[0]]))
            problems.append(f"cycle in {'::'.join(folder) or 'crate'}: {steps}\n      ({why})")
    return problems


def component_of(graph: dict[str, set], node: str) -> set:
    """The members that `node` reaches and that reach it back."""

    def reach(start, edges):
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reverse: dict[str, set] = {}
    for source, targets in graph.items():
        for target in targets:
            reverse.setdefault(target, set()).add(source)
    return reach(node, graph) & reach(node, reverse)


def find_cycles(graph: dict[str, set]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one member."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    cycles = []
    for component in components:
        members = set(component)
        start = min(component)
        # A shortest path back to the start, within the component.
        paths, seen = [[start]], {start}
        while paths:
            path = paths.pop(0)
            for nxt in sorted(graph.get(path[-1], ())):
                if nxt == start:
                    cycles.append(path)
                    paths = []
                    break
                if nxt in members and nxt not in seen:
                    seen.add(nxt)
                    paths.append(path + [nxt])
    return cycles


def http_outside_http() -> list[str]:
    problems = []
    for path in sorted(HTTP_FREE.rglob("*.rs")):
        relative = path.relative_to(HTTP_FREE)
        if relative.parts[0] in HTTP_ALLOWED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"crate::http|axum", line):
                problems.append(f"server/src/{relative}:{number}: {line.strip()}")
    return problems


def main() -> int:
    problems = []
    for name, root in CRATES.items():
        problems += [f"{name}: {p}" for p in cycles_in(Crate(root))]
    problems += [f"HTTP in the domain: {p}" for p in http_outside_http()]
    for problem in problems:
        print(problem)
    if not problems:
        print("module layers: no cycles; the domain names no HTTP")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
