#!/bin/sh
# Converts a benchmark plot (SVG written by a bench, e.g. the bootstrap bench's
# sync-<blocks>-<mode>.svg) to the PNG committed next to BENCHMARKS.md. Offline: needs
# only rsvg-convert (Debian: apt-get install librsvg2-bin).
# Usage: scripts/svg-to-png.sh IN.svg OUT.png
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 IN.svg OUT.png" >&2
    exit 2
fi
command -v rsvg-convert >/dev/null || {
    echo "rsvg-convert not found: apt-get install librsvg2-bin" >&2
    exit 1
}
rsvg-convert --format png --output "$2" "$1"
