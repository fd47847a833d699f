#!/bin/bash
# Stop the ser test rig started by tests/rig/start.sh. Kills only processes whose PIDs the rig
# recorded (or, for D-Bus-activated services, the PID the rig's own bus reports).
RIG_RUN=${RIG_RUN:-/tmp/ser-rig}
[ -d "$RIG_RUN" ] || exit 0
export DBUS_SESSION_BUS_ADDRESS="unix:path=$RIG_RUN/bus"
pids=()
# the tray host's supervisor first, so that it does not restart the host it sees die
if [ -f "$RIG_RUN/trayhost.pid" ]; then
  sup=$(cat "$RIG_RUN/trayhost.pid"); rm -f "$RIG_RUN/trayhost.pid"
  kill "$sup" 2>/dev/null
  for _ in $(seq 1 40); do kill -0 "$sup" 2>/dev/null || break; sleep 0.05; done
fi
if [ -S "$RIG_RUN/bus" ]; then
  for name in org.freedesktop.Notifications org.kde.StatusNotifierWatcher; do
    pid=$(timeout 2 busctl --user status "$name" 2>/dev/null | awk -F= '/^PID=/{print $2}')
    [ -n "$pid" ] && pids+=("$pid")
  done
fi
for n in dunst pulseaudio dbus xvfb; do
  f="$RIG_RUN/$n.pid"
  [ -f "$f" ] && pids+=("$(cat "$f")")
  rm -f "$f"
done
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
# wait (up to 5 s) for them to go, then insist
for _ in $(seq 1 100); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  sleep 0.05
done
for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
rm -f "$RIG_RUN/ready" "$RIG_RUN/env" "$RIG_RUN/bus" "$RIG_RUN/trayhost.mode"
exit 0
