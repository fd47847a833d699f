#!/bin/bash
# Start the ser test rig: a headless X server, a D-Bus session bus, PulseAudio with a
# virtual speaker/microphone pair, a notification server (dunst) and a tray host.
#
#   tests/rig/start.sh [sni|watcher|xembed|none]      # tray host, default sni
#
# Idempotent: a rig already running under $RIG_RUN is stopped first.
# Everything lives in $RIG_RUN (default /tmp/ser-rig). Tests `source $RIG_RUN/env`
# (or use ser_e2e::Rig::get()). Stop it with tests/rig/stop.sh.
# See tests/rig/README.md for what each piece is for.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRAY_HOST=${1:-${RIG_TRAY:-sni}}
case "$TRAY_HOST" in sni|watcher|xembed|none) ;; *) echo "start.sh: unknown tray host '$TRAY_HOST' (sni|watcher|xembed|none)" >&2; exit 2;; esac

export RIG_RUN=${RIG_RUN:-/tmp/ser-rig}
"$HERE/stop.sh" >/dev/null 2>&1 || true

for tool in Xvfb xdpyinfo dbus-daemon busctl pulseaudio pactl paplay dunst; do
  command -v "$tool" >/dev/null || { echo "start.sh: '$tool' is missing; run: bash packaging/deps.sh" >&2; exit 1; }
done

mkdir -p "$RIG_RUN"; chmod 700 "$RIG_RUN"
export XDG_RUNTIME_DIR=$RIG_RUN
export DBUS_SESSION_BUS_ADDRESS="unix:path=$RIG_RUN/bus"
export PULSE_SERVER="unix:$RIG_RUN/pulse/native"
export NO_AT_BRIDGE=1            # keeps GTK from spawning at-spi-bus-launcher on the bus

wait_for() {  # wait_for <what> <command...>: up to 10 s
  local what=$1; shift
  for _ in $(seq 1 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "start.sh: $what did not come up; logs in $RIG_RUN" >&2; return 1
}

# 1. X server: RIG_DISPLAY, else the first free display from :99 (never the caller's own $DISPLAY).
if [ -n "${RIG_DISPLAY:-}" ]; then
  DISPLAY=$RIG_DISPLAY
else
  n=99
  while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
  DISPLAY=":$n"
fi
export DISPLAY
Xvfb "$DISPLAY" -screen 0 800x600x24 -nolisten tcp > "$RIG_RUN/xvfb.log" 2>&1 &
echo $! > "$RIG_RUN/xvfb.pid"
wait_for "Xvfb on $DISPLAY" xdpyinfo

# 2. session bus at $RIG_RUN/bus
rm -f "$RIG_RUN/bus"
dbus-daemon --session --address="$DBUS_SESSION_BUS_ADDRESS" --fork --print-pid > "$RIG_RUN/dbus.pid"
wait_for "the D-Bus session bus" busctl --user status

# 3. PulseAudio with only the native protocol; the devices come from mic.sh (one source of truth).
echo "load-module module-native-protocol-unix auth-anonymous=1" > "$RIG_RUN/pa.script"
pulseaudio --daemonize=yes --use-pid-file=yes -n -F "$RIG_RUN/pa.script" --exit-idle-time=-1 --disallow-exit \
  --log-target=file:"$RIG_RUN/pulse.log"
wait_for "PulseAudio" pactl info
cp "$RIG_RUN/pulse/pid" "$RIG_RUN/pulseaudio.pid"
"$HERE/mic.sh" plug

# 4. notification server (needs the X display). Its default configuration
# stacks a notification into a displayed one with the same text and icon
# content (dunst compares icons by their pixels): two test daemons that
# classify the same clip at once would then leave one notification in the
# history instead of two. A desktop runs one serd, so only the rig needs this.
printf '[global]\n    stack_duplicates = false\n' > "$RIG_RUN/dunstrc"
dunst -config "$RIG_RUN/dunstrc" > "$RIG_RUN/dunst.log" 2>&1 &
echo $! > "$RIG_RUN/dunst.pid"
wait_for "dunst" busctl --user status org.freedesktop.Notifications

# 5. the env file for tests, then the tray host (tray.sh reads the env file)
cat > "$RIG_RUN/env" <<ENV
export RIG_RUN=$RIG_RUN
export XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR
export DISPLAY=$DISPLAY
export DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS
export PULSE_SERVER=$PULSE_SERVER
export NO_AT_BRIDGE=1
ENV
"$HERE/tray.sh" "$TRAY_HOST"

touch "$RIG_RUN/ready"   # Rig::get() waits for this
echo "test rig up in $RIG_RUN (DISPLAY=$DISPLAY, tray host: $TRAY_HOST); source $RIG_RUN/env"
