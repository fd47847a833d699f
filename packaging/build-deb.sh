#!/bin/bash
# Build the `ser` Debian package (serd + serctl, unit, desktop entries, man pages,
# completions) from the release build:
#
#   bash packaging/build-deb.sh        # prints the path of the .deb on its last line
#
# Builds serd and serctl in release mode (a no-op when up to date), generates the
# man pages and shell completions from the binaries themselves into
# <target>/release/ser-deb/, then runs `cargo deb -p serd --no-build --strip`
# (metadata: [package.metadata.deb] in daemon/Cargo.toml). Needs cargo-deb and
# help2man (bash packaging/deps.sh --deb).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SER_ROOT"

cargo deb --version >/dev/null 2>&1 || { echo "build-deb: cargo-deb is missing; run: bash packaging/deps.sh --deb" >&2; exit 1; }
command -v help2man >/dev/null || { echo "build-deb: help2man is missing; run: bash packaging/deps.sh" >&2; exit 1; }

cargo build --release --locked -p serd -p ser-ctl
rel="$(ser_target_dir)/release"
gen="$rel/ser-deb"
# One package build at a time per target dir (the generated files have fixed paths).
exec 8>"$rel/ser-deb.lock"
flock 8
rm -rf "$gen"; mkdir -p "$gen/man" "$gen/completions"

# man pages: serctl's come from its clap definitions (serctl man), serd's from its --help
"$rel/serctl" man --out "$gen/man" 2>/dev/null
help2man --no-info --name "the ser speech-emotion daemon" --section 1 \
  --version-string "$("$rel/serd" --version | awk '{print $NF}')" "$rel/serd" > "$gen/man/serd.1"
gzip -9n "$gen"/man/*.1

"$rel/serctl" completions bash > "$gen/completions/serctl.bash"
"$rel/serctl" completions zsh  > "$gen/completions/_serctl"
"$rel/serctl" completions fish > "$gen/completions/serctl.fish"

out_dir="$(ser_target_dir)/debian"
mkdir -p "$out_dir"
deb=$(cargo deb -p serd --no-build --strip --output "$out_dir" 2>&1 | tee /dev/stderr | grep -E '\.deb$' | tail -1)
[ -f "$deb" ] || { echo "build-deb: cargo deb did not report a .deb" >&2; exit 1; }
echo "$deb"
