#!/usr/bin/env python3
"""The krew index reviewers' rules for a manifest's text, which krew's own validator does not
check: a short description of at most 50 characters, a description wrapped at 80 columns that
says what the plugin does for its user (prose, not a feature list), and caveats that hold only
extra set-up steps, with links that work outside the repository (the archive has no docs/).
Usage: check-krew-text.py MANIFEST"""
import re
import sys

import yaml


def problems(manifest):
    spec = manifest["spec"]
    found = []
    short = spec.get("shortDescription", "")
    if not short or len(short) > 50:
        found.append(f"shortDescription has {len(short)} characters (krew asks for at most 50): {short!r}")
    if short.endswith("."):
        found.append("shortDescription ends with a period")
    description = spec.get("description", "")
    for number, line in enumerate(description.splitlines(), 1):
        if len(line) > 80:
            found.append(f"description line {number} has {len(line)} characters (wrap at 80)")
        if re.match(r"\s*([-*•]|\d+\.)\s", line):
            found.append(f"description line {number} is a list item: write what it does for the user, as prose")
    if len(description.split()) < 30:
        found.append("description is too short to say what the plugin does for its user")
    caveats = spec.get("caveats", "")
    for number, line in enumerate(caveats.splitlines(), 1):
        if len(line) > 80:
            found.append(f"caveats line {number} has {len(line)} characters (wrap at 80)")
    if "completion kubectl-plugin" not in caveats:
        found.append("caveats do not give the completion step (kubectl secrets completion kubectl-plugin)")
    for path in re.findall(r"(?<![/\w])(docs/[\w./-]+)", caveats):
        if not re.search(r"https://\S*" + re.escape(path), caveats):
            found.append(f"caveats point at {path}, which is not in the archive: give its URL")
    if "https://" not in caveats:
        found.append("caveats give no URL for the RBAC rules")
    return found


def main():
    with open(sys.argv[1]) as f:
        manifest = yaml.safe_load(f)
    found = problems(manifest)
    for problem in found:
        print(f"check-krew-text: {sys.argv[1]}: {problem}", file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"check-krew-text: {sys.argv[1]}: text as krew's reviewers ask")


if __name__ == "__main__":
    main()
