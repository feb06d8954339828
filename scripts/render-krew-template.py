#!/usr/bin/env python3
"""Renders .krew.yaml as krew-release-bot does for a tag: `{{ .TagName }}` becomes the tag and
`{{addURIAndSha "URL" .TagName }}` the uri and sha256 lines of that archive. The sha256 of an
archive given on the command line is computed from the file (this machine's archive); the
others, not built here, get a placeholder of the right shape, enough for krew's validator.
Usage: render-krew-template.py TEMPLATE TAG [ARCHIVE...] > manifest.yaml"""
import hashlib
import os
import re
import sys


def main():
    template, tag, archives = sys.argv[1], sys.argv[2], sys.argv[3:]
    sha_of = {}
    for path in archives:
        with open(path, "rb") as f:
            sha_of[os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()
    text = open(template).read()

    def uri_and_sha(match):
        url = match.group(1).replace("{{ .TagName }}", tag)
        sha = sha_of.get(url.rsplit("/", 1)[1], "0" * 64)
        return f"uri: {url}\n    sha256: \"{sha}\""

    text = re.sub(r'\{\{\s*addURIAndSha "([^"]+)" \.TagName\s*\}\}', uri_and_sha, text)
    text = text.replace("{{ .TagName }}", tag)
    if "{{" in text:
        sys.exit("render-krew-template: a template action is left unrendered")
    missing = [name for name in sha_of if name not in text]
    if missing:
        sys.exit(f"render-krew-template: no platform of the template names {', '.join(missing)}")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
