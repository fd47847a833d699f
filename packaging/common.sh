# Shared by the packaging/*.sh scripts (sourced, not run).
# shellcheck shell=bash

SER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

# The cargo target directory (honours CARGO_TARGET_DIR and cargo config).
ser_target_dir() {
  (cd "$SER_ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null) |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# Runs "$@" as root: directly when root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "need root (or sudo) to run: $*" >&2; return 1; fi
}
