#!/usr/bin/env bash
# Runs one phase of `make test` (its name, then the command) and says how long it took, so
# a run's log shows where the time goes: tools, models, builds, tests.
set -uo pipefail
name=$1
shift
start=$SECONDS
"$@"
status=$?
printf '[phase] %s: %d s%s\n' "$name" $((SECONDS - start)) "$([ $status -eq 0 ] || echo " (failed, status $status)")"
exit $status
