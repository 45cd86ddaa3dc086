#!/usr/bin/env bash
# npm test: every test of the project, against the machine's real PostgreSQL and Redis.
# Output is node's TAP (the "# pass N" / "# fail N" summary at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1

bash scripts/ensure-services.sh
node scripts/prepare-start.mjs   # Prisma client + Next.js build, for the tests that start the server

if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' -not -path '*/node_modules/*' | sort); fi
exec node --import tsx --test --test-reporter=tap --test-concurrency=2 --test-timeout=600000 "${files[@]}"
