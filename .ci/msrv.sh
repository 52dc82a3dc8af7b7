#!/usr/bin/env bash
# Builds the library with the declared rust-version. Dev-dependencies are
# stripped first: they may need a newer toolchain, and users of the library
# never build them.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rustup toolchain install "$msrv" --profile minimal >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r src docs README.md Cargo.toml "$scratch/"
python3 - "$scratch/Cargo.toml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r'(?m)^\[dev-dependencies\]\n(?:[^\[\n].*\n|\n)*', '', s)
s = re.sub(r"(?m)^\[target\.[^\n]*\.dev-dependencies\]\n(?:[^\[\n].*\n|\n)*", '', s)
s = re.sub(r'(?m)^\[\[bench\]\]\n(?:[^\[\n].*\n|\n)*', '', s)
# The adapters are not part of the library; the copy is a workspace of its own.
s = re.sub(r'\n\[workspace\]\n(?:[^\[\n].*\n|\n)*', '\n[workspace]\n', s)
open(p, 'w').write(s)
PY
cd "$scratch"
echo "rust-version $msrv"
cargo +"$msrv" build --lib
cargo +"$msrv" build --lib --no-default-features
