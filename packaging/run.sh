#!/bin/bash
# Build and run the ser daemon with its embedded default model:
#
#   bash packaging/run.sh [serd options...]      e.g.  bash packaging/run.sh --help
#
# Installs missing system packages (packaging/deps.sh), builds serd and serctl in
# release mode (the first build takes several minutes: tract is large), then runs
# target/release/serd with the given options. Talk to it with target/release/serctl.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SER_ROOT"
bash packaging/deps.sh
cargo build --release -p serd -p ser-ctl
bin="$(ser_target_dir)/release"
echo "run: $bin/serd $*   (client: $bin/serctl)" >&2
exec "$bin/serd" "$@"
