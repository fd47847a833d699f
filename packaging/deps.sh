#!/bin/bash
# Installs what building, running and testing ser needs on Debian 12 (bookworm).
# Idempotent and quick when everything is already there (no apt-get update then).
#
#   bash packaging/deps.sh            system packages + a Rust toolchain (rustfmt, clippy)
#   bash packaging/deps.sh --python   ... + the training venv (models/train/requirements.txt)
#                                     in $SER_VENV (default ~/.cache/ser/venv)
#   bash packaging/deps.sh --deb      ... + cargo-deb (to build the .deb)
#   bash packaging/deps.sh --fuzz     ... + cargo-fuzz (fuzz/, run on the stable toolchain)
#
# Runs apt-get as root, or through sudo when not root. Needs network access only for
# what is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WANT_PYTHON=0
WANT_DEB=0
WANT_FUZZ=0
for arg in "$@"; do
  case "$arg" in
    --python) WANT_PYTHON=1 ;;
    --deb) WANT_DEB=1 ;;
    --fuzz) WANT_FUZZ=1 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deps.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { echo "deps: $*"; }

# --- system packages --------------------------------------------------------------
PACKAGES=(
  # building: C toolchain (webrtc-vad's bundled C, dpkg-shlibdeps), ALSA (cpal), GTK 3 (tray-icon)
  build-essential pkg-config libasound2-dev libgtk-3-dev libxdo-dev
  # running: the tray's AppIndicator library (dlopened) and the ALSA -> PulseAudio plugin
  libayatana-appindicator3-1 libasound2-plugins
  # the test rig (tests/rig): sound server, X server, session bus, notifications, tray hosts
  pulseaudio pulseaudio-utils xvfb x11-utils imagemagick dbus-daemon dbus-bin systemd dunst
  haskell-gtk-sni-tray-utils haskell-status-notifier-item-utils trayer
  # test audio: speech synthesis and conversion to WAV/MP3/OGG/FLAC
  espeak-ng sox libsox-fmt-all lame
  # the shell example of the protocol (ctl/examples/subscribe.sh)
  socat
  # training venv, package test, misc
  python3 python3-venv python3-pip ca-certificates git curl dpkg-dev man-db help2man
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "deps.sh: need root (or sudo) to run: $*" >&2; exit 1; fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${#missing[@]} package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "system packages: all ${#PACKAGES[@]} present"
fi

# --- Rust toolchain ---------------------------------------------------------------
[ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac
if command -v rustup >/dev/null; then
  rustup show active-toolchain >/dev/null 2>&1 || { say "rustup: installing the stable toolchain"; rustup default stable; }
  for comp in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$comp" || { say "rustup: adding $comp"; rustup component add "$comp"; }
  done
elif ! command -v cargo >/dev/null; then
  say "no Rust toolchain: installing Debian's cargo"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cargo rustc rustfmt rust-clippy
fi
need_rust="$(grep -m1 '^rust-version' "$ROOT/Cargo.toml" | sed 's/.*"\(.*\)".*/\1/')"
have_rust="$(rustc --version | awk '{print $2}')"
if [ -n "$need_rust" ] && [ "$(printf '%s\n%s\n' "$need_rust" "$have_rust" | sort -V | head -1)" != "$need_rust" ]; then
  echo "deps.sh: rustc $have_rust is older than the workspace's rust-version $need_rust; install rustup (https://rustup.rs)" >&2
  exit 1
fi
say "rust: $(rustc --version)"

# --- training venv ----------------------------------------------------------------
if [ $WANT_PYTHON = 1 ]; then
  VENV=${SER_VENV:-$HOME/.cache/ser/venv}
  REQ="$ROOT/models/train/requirements.txt"
  if [ ! -f "$REQ" ]; then
    say "no $REQ: skipping the training venv"
  else
    stamp="$VENV/.ser-requirements.sha256"
    sum=$(sha256sum "$REQ" | cut -d' ' -f1)
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
      say "python venv: $VENV is up to date"
    else
      say "python venv: installing $REQ into $VENV (torch is large; the pip cache is reused)"
      [ -x "$VENV/bin/python" ] || { mkdir -p "$(dirname "$VENV")"; /usr/bin/python3 -m venv "$VENV"; }
      "$VENV/bin/python" -m pip install -q --upgrade pip
      "$VENV/bin/python" -m pip install -q -r "$REQ"
      echo "$sum" > "$stamp"
    fi
  fi
fi

# --- cargo subcommands (cargo-deb, cargo-fuzz) -------------------------------------
# cargo_tool NAME: make `cargo NAME` available (installs cargo-NAME once)
cargo_tool() {
  if cargo "$1" --version >/dev/null 2>&1; then
    say "cargo-$1: $(cargo "$1" --version 2>&1 | head -1)"
  else
    say "installing cargo-$1"
    cargo install "cargo-$1" --locked
  fi
}
if [ $WANT_DEB = 1 ]; then cargo_tool deb; fi
if [ $WANT_FUZZ = 1 ]; then cargo_tool fuzz; fi
say "done"
