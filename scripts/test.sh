#!/usr/bin/env bash
# npm test: every test of the project, against the machine's real PostgreSQL and Redis.
# Output is node's TAP (the "# pass N" / "# fail N" summary at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1

bash scripts/ensure-services.sh
node scripts/prepare-start.mjs   # Prisma client + Next.js build, for the tests that start the server

# Every test file two at a time, then test/solo/ (latency assertions) one at a time, one summary.
exec node --import tsx scripts/run-tests.mjs "$@"
