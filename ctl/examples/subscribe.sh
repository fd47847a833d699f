#!/bin/sh
# Print every utterance event serd sends, as JSON lines, until serd stops.
sock=${SER_SOCKET:-${XDG_RUNTIME_DIR:+$XDG_RUNTIME_DIR/ser/serd.sock}}
echo '{"id":1,"cmd":"subscribe","topics":["utterance"]}' |
  socat -,ignoreeof UNIX-CONNECT:"${sock:-/tmp/ser-$(id -u)/serd.sock}"
