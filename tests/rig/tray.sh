#!/bin/bash
# Replace the rig's tray host:  tests/rig/tray.sh sni|watcher|xembed|none
#   sni      gtk-sni-tray-standalone --watcher: a StatusNotifierWatcher + a bar that draws the icons
#   watcher  status-notifier-watcher: D-Bus only, draws nothing
#   xembed   trayer: an XEmbed system tray, no watcher (libayatana falls back to XEmbed)
#   none     no tray host at all
# Needs a running rig (start.sh calls this). Records the mode in $RIG_RUN/trayhost.mode.
set -euo pipefail
MODE=${1:?usage: tray.sh sni|watcher|xembed|none}
export RIG_RUN=${RIG_RUN:-/tmp/ser-rig}
[ -f "$RIG_RUN/env" ] || { echo "tray.sh: no rig running in $RIG_RUN (start it with tests/rig/start.sh)" >&2; exit 1; }
# shellcheck disable=SC1091
source "$RIG_RUN/env"

# stop the current host: by recorded pid, then whoever still owns the watcher name
if [ -f "$RIG_RUN/trayhost.pid" ]; then
  pid=$(cat "$RIG_RUN/trayhost.pid"); kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$RIG_RUN/trayhost.pid"
fi
pid=$(busctl --user status org.kde.StatusNotifierWatcher 2>/dev/null | awk -F= '/^PID=/{print $2}') || true
if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; fi
for _ in $(seq 1 100); do busctl --user status org.kde.StatusNotifierWatcher >/dev/null 2>&1 || break; sleep 0.05; done

# Wait for the watcher name; false if the host died first or 10 s passed.
wait_watcher() {
  local pid=$1
  for _ in $(seq 1 200); do
    busctl --user status org.kde.StatusNotifierWatcher >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
# Start a watcher-providing host, up to 3 times: gtk-sni-tray-standalone
# sometimes dies at start-up on a D-Bus race ("Pattern match failure" after
# an UnknownObject reply; seen once in CI); a second start succeeds.
start_watcher_host() {
  local try pid
  for try in 1 2 3; do
    "$@" > "$RIG_RUN/trayhost.log" 2>&1 &
    pid=$!
    echo "$pid" > "$RIG_RUN/trayhost.pid"
    wait_watcher "$pid" && return 0
    kill "$pid" 2>/dev/null || true
    cp "$RIG_RUN/trayhost.log" "$RIG_RUN/trayhost.try$try.log"
    echo "tray.sh: $1 gave no StatusNotifierWatcher (try $try of 3; log kept in $RIG_RUN/trayhost.try$try.log)" >&2
    sleep 0.5
  done
  echo "tray.sh: no StatusNotifierWatcher appeared; see $RIG_RUN/trayhost.try*.log" >&2
  return 1
}
case "$MODE" in
  sni)     start_watcher_host gtk-sni-tray-standalone --watcher --bottom --size 40 --color '#303030' ;;
  watcher) start_watcher_host status-notifier-watcher ;;
  xembed)  trayer --edge top --align left --widthtype pixel --width 300 --height 48 --SetDockType true --expand false \
             > "$RIG_RUN/trayhost.log" 2>&1 &
           echo $! > "$RIG_RUN/trayhost.pid"
           sleep 0.5 ;;  # trayer shows no readiness signal on the bus; TEST-RIG measured < 0.5 s
  none) ;;
  *) echo "tray.sh: unknown mode '$MODE' (sni|watcher|xembed|none)" >&2; exit 2 ;;
esac
echo "$MODE" > "$RIG_RUN/trayhost.mode"
