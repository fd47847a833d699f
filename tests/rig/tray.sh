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

# Run a host under a supervisor that restarts it when it dies, as a desktop session
# restarts its panel. gtk-sni-tray-standalone sometimes dies on a D-Bus race (a
# "Pattern match failure" after an UnknownObject or NoReply answer, when an item
# vanishes while the host reads its properties; seen at start-up and once mid-run in
# CI). Every death is kept: a line in $RIG_RUN/trayhost.deaths and the dead host's
# log as trayhost.death-PID.log. The supervisor's pid goes in trayhost.pid; killing it
# stops the host too. It gives up after 20 deaths (a host that cannot start at all).
supervise() {
  local n=0 child rc
  trap 'kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
  while [ "$n" -lt 20 ]; do
    "$@" > "$RIG_RUN/trayhost.log" 2>&1 &
    child=$!
    rc=0; wait "$child" || rc=$?
    n=$((n + 1))
    cp "$RIG_RUN/trayhost.log" "$RIG_RUN/trayhost.death-$child.log"
    echo "$(date +%FT%T.%N) $1 (pid $child) died (exit $rc) and was restarted; its log: trayhost.death-$child.log" \
      >> "$RIG_RUN/trayhost.deaths"
    sleep 0.2
  done
  echo "$(date +%FT%T.%N) $1 died 20 times; the supervisor gave up" >> "$RIG_RUN/trayhost.deaths"
}
start_supervised() {
  supervise "$@" < /dev/null > /dev/null 2>&1 &
  echo $! > "$RIG_RUN/trayhost.pid"
}
# Wait (up to 10 s) for the watcher name.
wait_watcher() {
  for _ in $(seq 1 200); do
    busctl --user status org.kde.StatusNotifierWatcher >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "tray.sh: no StatusNotifierWatcher appeared in 10 s; see $RIG_RUN/trayhost.log and trayhost.deaths" >&2
  return 1
}
case "$MODE" in
  sni)     start_supervised gtk-sni-tray-standalone --watcher --bottom --size 40 --color '#303030'
           wait_watcher ;;
  watcher) start_supervised status-notifier-watcher
           wait_watcher ;;
  xembed)  start_supervised trayer --edge top --align left --widthtype pixel --width 300 --height 48 \
             --SetDockType true --expand false
           sleep 0.5 ;;  # trayer shows no readiness signal on the bus; TEST-RIG measured < 0.5 s
  none) ;;
  *) echo "tray.sh: unknown mode '$MODE' (sni|watcher|xembed|none)" >&2; exit 2 ;;
esac
echo "$MODE" > "$RIG_RUN/trayhost.mode"
