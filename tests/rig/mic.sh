#!/bin/bash
# The rig's sound devices, the one place that defines them:
#   tests/rig/mic.sh plug     create virtspk (null sink, 16 kHz mono s16), virtmic (its monitor,
#                             the default source, paced in real time) and fifomic (pipe source fed
#                             by writing raw s16le 16 kHz mono to $RIG_RUN/fifomic; not paced)
#   tests/rig/mic.sh unplug   remove all three: PulseAudio then has no source at all
#   tests/rig/mic.sh status   print "plugged" or "unplugged" (exit 0 either way)
# Play into the mic with: paplay --device=virtspk clip.wav
set -euo pipefail
ACTION=${1:?usage: mic.sh plug|unplug|status}
export RIG_RUN=${RIG_RUN:-/tmp/ser-rig}
export PULSE_SERVER=unix:$RIG_RUN/pulse/native

module_ids() {  # module_ids <module name> <argument substring>
  pactl list short modules | awk -v m="$1" -v a="$2" -F'\t' '$2 == m && index($3, a) { print $1 }'
}
has_source() { pactl list short sources | awk -F'\t' -v s="$1" '$2 == s { f = 1 } END { exit !f }'; }

case "$ACTION" in
  plug)
    has_source virtspk.monitor || pactl load-module module-null-sink sink_name=virtspk rate=16000 channels=1 \
      format=s16le sink_properties=device.description=VirtualSpeaker >/dev/null
    has_source virtmic || pactl load-module module-remap-source master=virtspk.monitor source_name=virtmic \
      source_properties=device.description=VirtualMic >/dev/null
    has_source fifomic || pactl load-module module-pipe-source source_name=fifomic file="$RIG_RUN/fifomic" \
      format=s16le rate=16000 channels=1 >/dev/null
    pactl set-default-sink virtspk
    pactl set-default-source virtmic ;;
  unplug)
    for id in $(module_ids module-remap-source source_name=virtmic) \
              $(module_ids module-pipe-source source_name=fifomic) \
              $(module_ids module-null-sink sink_name=virtspk); do
      pactl unload-module "$id"
    done ;;
  status)
    if has_source virtmic; then echo plugged; else echo unplugged; fi ;;
  *) echo "mic.sh: unknown action '$ACTION' (plug|unplug|status)" >&2; exit 2 ;;
esac
