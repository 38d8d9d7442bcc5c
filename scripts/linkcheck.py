"""Checks the links of the built book and of the README, offline.

Every relative link of every page of the book (a, img, link, script) must
name a file inside the book, and its #fragment an id in that page; the
README's relative links must name files of the repository. Links with a
scheme (https:, mailto:) are not fetched: CI has no network but the
package registries. Standard library only.

    python3 scripts/linkcheck.py docs/book README.md
"""

import html.parser
import os
import re
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()
        self.links = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "name" in attrs:
            self.ids.add(attrs["name"])
        for attr in ("href", "src"):
            if tag in ("a", "img", "link", "script") and attrs.get(attr):
                self.links.append((self.getpos()[0], attrs[attr]))


def external(link):
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link)) or link.startswith("//")


def check_book(root):
    pages = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".html"):
                path = os.path.normpath(os.path.join(folder, name))
                page = Page()
                with open(path, encoding="utf-8") as f:
                    page.feed(f.read())
                pages[path] = page
    if not pages:
        return [f"{root}: no pages (was the book built?)"]
    broken = []
    root_abs = os.path.abspath(root)
    for path, page in sorted(pages.items()):
        for line, link in page.links:
            if external(link):
                continue
            target, _, fragment = urllib.parse.unquote(link).partition("#")
            if target:
                resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
                if target.endswith("/"):
                    resolved = os.path.join(resolved, "index.html")
            else:
                resolved = path
            where = f"{path}:{line}: {link}"
            if not os.path.abspath(resolved).startswith(root_abs + os.sep):
                broken.append(f"{where}: leads out of the book")
            elif not os.path.isfile(resolved):
                broken.append(f"{where}: no file {resolved}")
            elif fragment and resolved.endswith(".html"):
                ids = pages[resolved].ids if resolved in pages else set()
                if fragment not in ids:
                    broken.append(f"{where}: no id '{fragment}' in {resolved}")
    return broken, len(pages), sum(len(p.links) for p in pages.values())


def check_markdown(path):
    broken = []
    text = open(path, encoding="utf-8").read()
    for line_no, line in enumerate(text.splitlines(), 1):
        for link in re.findall(r"\]\(([^)\s]+)\)", line):
            if external(link) or link.startswith("#"):
                continue
            target = link.partition("#")[0]
            if not os.path.exists(os.path.join(os.path.dirname(path), target)):
                broken.append(f"{path}:{line_no}: {link}: no such file")
    return broken


def main(args):
    broken = []
    for arg in args:
        if os.path.isdir(arg):
            found = check_book(arg)
            if isinstance(found, list):
                broken += found
            else:
                bad, pages, links = found
                broken += bad
                print(f"{arg}: {pages} pages, {links} links")
        else:
            broken += check_markdown(arg)
    for problem in broken:
        print(problem, file=sys.stderr)
    if broken:
        print(f"{len(broken)} broken links", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
