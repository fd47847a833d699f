#!/bin/bash
# The package test: build the `ser` .deb, install it, use it, purge it.
#
#   bash packaging/deb-test.sh [path/to/ser.deb]     # builds it when no path is given
#
# 1. installs the package (dpkg -i; as root or with sudo) and checks that every file
#    `dpkg -L ser` lists is there, and that the key files are among them;
#    checks the systemd user unit with `systemd-analyze verify` (and prints its sandbox
#    exposure score);
# 2. runs /usr/bin/serd --version and /usr/bin/serctl --help;
# 3. starts the installed daemon under the test rig (started here when $RIG_RUN has none)
#    on a RAVDESS clip (--input file:CLIP --pace max --no-tray --no-notify) in a private
#    HOME/XDG/socket, and reads a result back with /usr/bin/serctl history/mood --json;
# 4. dpkg --purge ser, then checks that no file of the package is left.
# A `ser` package installed before the test is purged first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SER_ROOT"

fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
say() { echo "deb-test: $*"; }

# The package is installed system-wide: one package test at a time on this machine.
exec 9>"${TMPDIR:-/tmp}/ser-deb-test.lock"
flock 9 || fail "cannot lock ${TMPDIR:-/tmp}/ser-deb-test.lock"

deb=${1:-}
if [ -z "$deb" ]; then deb=$(bash packaging/build-deb.sh | tail -1); fi
[ -f "$deb" ] || fail "no package at '$deb'"
say "package $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'

export SER_RAVDESS=${SER_RAVDESS:-$SER_ROOT/../shared/data/ravdess}
clip="$SER_RAVDESS/Actor_01/03-01-05-02-01-01-01.wav"
[ -f "$clip" ] || fail "RAVDESS clip not found: $clip (set SER_RAVDESS)"

work=$(mktemp -d "${TMPDIR:-/tmp}/ser-deb-test.XXXXXX")
serd_pid=""
started_rig=0
cleanup() {
  [ -n "$serd_pid" ] && kill "$serd_pid" 2>/dev/null && wait "$serd_pid" 2>/dev/null
  [ "$started_rig" = 1 ] && bash tests/rig/stop.sh >/dev/null 2>&1
  if dpkg-query -W -f='${Status}' ser 2>/dev/null | grep -q 'install ok'; then as_root dpkg --purge ser >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. install -------------------------------------------------------------------
if dpkg-query -W -f='${Status}' ser 2>/dev/null | grep -q installed; then
  say "purging a previously installed ser"; as_root dpkg --purge ser
fi
as_root dpkg -i "$deb" || { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -f -y -q; }
dpkg-query -W -f='${Status}' ser | grep -q 'install ok installed' || fail "ser is not installed after dpkg -i"

dpkg -L ser > "$work/files.all"
while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done < "$work/files.all" > "$work/files"
while read -r f; do [ -e "$f" ] || fail "dpkg -L lists $f but it is missing"; done < "$work/files.all"
for f in /usr/bin/serd /usr/bin/serctl /usr/lib/systemd/user/serd.service \
         /usr/share/applications/ser.desktop /usr/share/ser/serd.desktop \
         /usr/share/man/man1/serd.1.gz /usr/share/man/man1/serctl.1.gz \
         /usr/share/bash-completion/completions/serctl /usr/share/zsh/vendor-completions/_serctl \
         /usr/share/fish/vendor_completions.d/serctl.fish \
         /usr/share/icons/hicolor/64x64/apps/ser.png \
         /usr/share/doc/ser/copyright /usr/share/doc/ser/LICENSE-OFL.txt; do
  grep -qx "$f" "$work/files" || fail "the package lacks $f"
done
[ -x /usr/bin/serd ] && [ -x /usr/bin/serctl ] || fail "the binaries are not executable"
if [ -e /etc/xdg/autostart/serd.desktop ]; then fail "the package enables autostart by itself (/etc/xdg/autostart)"; fi
grep -q 'RAVDESS' /usr/share/doc/ser/copyright || fail "the copyright file lacks the RAVDESS attribution"
zcat /usr/share/man/man1/serd.1.gz | grep -q '^\.TH' || fail "serd.1.gz is not a man page"
say "installed: $(wc -l < "$work/files") files, all present"
# the systemd user unit as installed: systemd's own checker (syntax, unknown keys,
# executables and man pages it names), then its sandbox exposure score
mkdir -p "$work/xdg" && chmod 700 "$work/xdg"
XDG_RUNTIME_DIR="$work/xdg" systemd-analyze verify --user /usr/lib/systemd/user/serd.service ||
  fail "systemd-analyze verify rejects serd.service"
XDG_RUNTIME_DIR="$work/xdg" systemd-analyze security --offline=yes --user /usr/lib/systemd/user/serd.service |
  tail -n 1 || fail "systemd-analyze security"

# --- 2. the installed binaries run ------------------------------------------------
/usr/bin/serd --version || fail "serd --version"
/usr/bin/serctl --help > "$work/serctl-help" || fail "serctl --help"
grep -q 'history' "$work/serctl-help" || fail "serctl --help does not list its commands"

# --- 3. the installed daemon gives a result ---------------------------------------
export RIG_RUN=${RIG_RUN:-/tmp/ser-rig}
if [ ! -f "$RIG_RUN/ready" ]; then bash tests/rig/start.sh none 9>&-; started_rig=1; fi
# shellcheck disable=SC1091
source "$RIG_RUN/env"
for d in home config data state cache run; do mkdir -p "$work/$d"; done
chmod 700 "$work/run"
export HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" \
  XDG_STATE_HOME="$work/state" XDG_CACHE_HOME="$work/cache" XDG_RUNTIME_DIR="$work/run"
export SER_SOCKET="$work/run/ser/serd.sock"
cd "$work"
/usr/bin/serd --input "file:$clip" --pace max --no-tray --no-notify > "$work/serd.log" 2>&1 9>&- &
serd_pid=$!
got=""
for _ in $(seq 1 1200); do   # up to 60 s: model load + one clip at full speed
  kill -0 "$serd_pid" 2>/dev/null || { cat "$work/serd.log" >&2; fail "the installed serd exited early"; }
  if [ -S "$SER_SOCKET" ]; then
    /usr/bin/serctl history --json > "$work/history" 2>/dev/null || true
    if grep -q '"emotion"' "$work/history"; then got=1; break; fi
  fi
  sleep 0.05
done
[ -n "$got" ] || { cat "$work/serd.log" >&2; fail "no utterance in /usr/bin/serctl history --json"; }
say "history: $(head -1 "$work/history")"
python3 - "$work/history" <<'PY' || fail "the history line is not a valid utterance"
import json, sys
u = json.loads(open(sys.argv[1]).readline())
labels = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
assert u["emotion"] in labels, u
assert sorted(u["probs"]) == sorted(labels) and abs(sum(u["probs"].values()) - 1) < 1e-3, u
assert u["probs"][u["emotion"]] == max(u["probs"].values()), u
PY
/usr/bin/serctl mood --json > "$work/mood" || fail "serctl mood"
say "mood: $(cat "$work/mood")"
/usr/bin/serctl stop > /dev/null || fail "serctl stop"
for _ in $(seq 1 200); do kill -0 "$serd_pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$serd_pid" 2>/dev/null; then fail "serd still runs after serctl stop"; fi
wait "$serd_pid" || fail "serd exited with status $? after serctl stop"
serd_pid=""
cd "$SER_ROOT"

# --- 4. purge leaves nothing ------------------------------------------------------
as_root dpkg --purge ser
if dpkg-query -W -f='${Status}' ser 2>/dev/null | grep -q 'install ok'; then fail "ser is still installed after purge"; fi
left=$(while read -r f; do if [ -e "$f" ]; then echo "$f"; fi; done < "$work/files")
[ -z "$left" ] || fail "files left after dpkg --purge: $left"
say "OK: installed, ran, purged cleanly"
