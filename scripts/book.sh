#!/usr/bin/env bash
# Builds the book (docs/ -> docs/book/) with mdBook and checks every link in
# it: the pages, their anchors, the images and files they link, and the
# README's links into the repository. Installs mdBook into target/tools/
# from crates.io on first use (about 2 minutes on 2 cores; the html
# renderer and search only, no `serve`/`watch`). The book's commands are
# run by `cargo test --test api book::` (tests/api/book.rs), not here.
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4
mdbook=target/tools/bin/mdbook
if [ "$("$mdbook" --version 2>/dev/null)" != "mdbook v$MDBOOK_VERSION" ]; then
  echo "==> installing mdbook $MDBOOK_VERSION into target/tools (crates.io)"
  cargo install mdbook --version "$MDBOOK_VERSION" --locked --no-default-features \
    --features search --root target/tools --quiet
fi

echo "==> mdbook build docs"
"$mdbook" build docs 2>&1 | { grep -v '^ INFO' || true; }
echo "==> link check (docs/book, README.md)"
python3 scripts/linkcheck.py docs/book README.md
