#!/usr/bin/env python3
"""Keep README code blocks identical to tagged regions of compiled examples.

A README block preceded by `<!-- snippet: PATH#TAG -->` must contain exactly the
lines between `// tag::TAG[]` and `// end::TAG[]` in PATH (relative to the repo).

    readme_snippets.py --check    exit 1 and show the difference when any block is stale
    readme_snippets.py --update   rewrite the stale blocks
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- snippet: (?P<path>[^#]+)#(?P<tag>[\w-]+) -->\n```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)


def tagged_region(path: str, tag: str) -> str:
    lines = (ROOT / path).read_text().splitlines(keepends=True)
    start = next(i for i, l in enumerate(lines) if f"tag::{tag}[]" in l)
    end = next(i for i, l in enumerate(lines) if f"end::{tag}[]" in l)
    return "".join(lines[start + 1 : end])


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    readme = (ROOT / "README.md").read_text()
    stale = []

    def replace(m: re.Match) -> str:
        wanted = tagged_region(m["path"], m["tag"])
        if m["body"] != wanted:
            stale.append(f"{m['path']}#{m['tag']}")
        return f"<!-- snippet: {m['path']}#{m['tag']} -->\n```{m['lang']}\n{wanted}```"

    updated = MARKER.sub(replace, readme)
    count = len(MARKER.findall(readme))
    if mode == "--update":
        (ROOT / "README.md").write_text(updated)
        print(f"README snippets: {count} checked, {len(stale)} updated")
        return 0
    if stale:
        print("README snippets out of date (run tests/readme_snippets.py --update):", ", ".join(stale))
        return 1
    print(f"README snippets: {count} checked, all match their examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
