#!/usr/bin/env python3
"""Drops imports from a Go file, with every registry entry that uses them.

    go-trim-imports.py FILE REGEX [KEEP_REGEX]

Every import whose path matches REGEX (and not KEEP_REGEX) goes, and with it each use of its
package name, which must be one of the shapes a registry of plugins has: a map entry on one
line (`"aws": credAws.Factory,`), a map entry over several lines (`"ad": {` ... `},`), or a
switch case (`case "aws":` and its body). Any other use stops the script with the line: a
trimmed build must fail loudly, never compile something else than the release's code.
Used where a release links every cloud SDK through one list of plugins (scripts/build-vault.sh).
"""
import re
import sys


def import_name(line):
    """(name, path) of an import spec line, or None."""
    m = re.match(r'^\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s+)?"([^"]+)"\s*$', line)
    if not m or m.group(1) == "_":
        return None
    path = m.group(2)
    name = m.group(1) or re.sub(r"/v[0-9]+$", "", path).rsplit("/", 1)[-1]
    return name, path


def indent_of(line):
    return len(line) - len(line.lstrip())


def block_end(lines, start):
    """Index of the line closing the brace opened on lines[start]."""
    depth = 0
    for i in range(start, len(lines)):
        depth += lines[i].count("{") - lines[i].count("}")
        if depth == 0:
            return i
    raise SystemExit(f"go-trim-imports: unbalanced braces from line {start + 1}")


def span_of_use(lines, i):
    """(first, last) lines to delete for a use of a dropped package on line i."""
    stripped = lines[i].strip()
    if re.match(r'^"[^"]*":', stripped):
        return (i, block_end(lines, i) if stripped.endswith("{") else i)
    # Otherwise the construct that encloses the line: the nearest line above indented less.
    indent = indent_of(lines[i])
    j = i - 1
    while j >= 0 and (not lines[j].strip() or indent_of(lines[j]) >= indent):
        j -= 1
    if j >= 0 and re.match(r'^\s*"[^"]*":\s*\{\s*$', lines[j]):
        return (j, block_end(lines, j))
    if j >= 0 and re.match(r"^\s*case .*:\s*(//.*)?$", lines[j]):
        end = j + 1
        while end < len(lines) and (not lines[end].strip() or indent_of(lines[end]) > indent_of(lines[j])):
            end += 1
        return (j, end - 1)
    raise SystemExit(f"go-trim-imports: line {i + 1} uses a dropped package outside a registry: {stripped}")


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    path, drop = sys.argv[1], re.compile(sys.argv[2])
    keep = re.compile(sys.argv[3]) if len(sys.argv) == 4 and sys.argv[3] else None
    lines = open(path).read().split("\n")
    start = lines.index("import (")
    end = lines.index(")", start)
    dropped = {}
    for i in range(start + 1, end):
        spec = import_name(lines[i])
        if spec and drop.search(spec[1]) and not (keep and keep.search(spec[1])):
            dropped[i] = spec[0]
    if not dropped:
        raise SystemExit(f"go-trim-imports: {path}: no import matches {drop.pattern}")
    uses = re.compile(r"\b(" + "|".join(map(re.escape, set(dropped.values()))) + r")\.")
    gone = set(dropped)
    for i in range(end + 1, len(lines)):
        if i in gone or lines[i].lstrip().startswith("//"):
            continue
        code = re.sub(r"//.*", "", re.sub(r'"(?:\\.|[^"\\])*"|`[^`]*`', '""', lines[i]))
        if uses.search(code):
            first, last = span_of_use(lines, i)
            gone.update(range(first, last + 1))
    with open(path, "w") as out:
        out.write("\n".join(line for i, line in enumerate(lines) if i not in gone))
    print(f"go-trim-imports: {path}: {len(dropped)} imports dropped", file=sys.stderr)


main()
