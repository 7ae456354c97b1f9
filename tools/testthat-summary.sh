#!/bin/sh
# testthat's counts and skips in an R CMD check (its tests/testthat.Rout, or
# testthat.Rout.fail): each skip's reason with how many tests it skipped
# (to stderr), then the line "N passed, N failed, N skipped" (to stdout).
# Fails when the counts are missing, or when a test skipped for a reason
# not expected here: a test that must run here did not.
# Usage: tools/testthat-summary.sh TESTTHAT_ROUT
set -eu
rout=$1

# The skips expected inside R CMD check: the tests of the worker image, which
# make check-container runs with the image it builds. Any other skip (a
# missing tool or package, no mount namespace, ...) is a failure.
expected_skips='SAGESIM_TEST_IMAGE names no image (tools/container/check.sh sets it)
SAGESIM_TEST_BUILD_ARGS is not set (tools/container/check.sh sets it)'

counts=$(grep -oE '\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]' "$rout" | tail -n 1 || true)
if [ -z "$counts" ]; then
  echo "testthat's counts ([ FAIL n | WARN n | SKIP n | PASS n ]) are not in $rout" >&2
  exit 1
fi
count() { echo "$counts" | sed -E "s/.*$1 ([0-9]+).*/\\1/"; }
failed=$(count FAIL)
skipped=$(count SKIP)
passed=$(count PASS)

# testthat's check reporter lists the skips after a rule "Skipped tests",
# a bullet per reason with how many tests it skipped: "• reason (n)" ("*"
# where the output is not UTF-8), a blank line after the last.
listed=$(awk '/Skipped tests/ { on = 1; next } on && /^[[:space:]]*$/ { exit } on' "$rout" |
  sed -E 's/^(•|\*) //')
total=0
unexpected=0
while IFS= read -r line; do
  [ -n "$line" ] || continue
  n=$(echo "$line" | sed -nE 's/.* \(([0-9]+)\)$/\1/p')
  reason=$(echo "$line" | sed -E 's/ \([0-9]+\)$//')
  total=$((total + ${n:-0}))
  if printf '%s\n' "$expected_skips" | grep -qxF -- "$reason"; then
    echo "  skipped, as expected here: $reason (${n:-?})" >&2
  else
    echo "  skipped, NOT expected here: $reason (${n:-?})" >&2
    unexpected=$((unexpected + ${n:-1}))
  fi
done <<EOF
$listed
EOF
echo "testthat: $skipped skipped, $((skipped - unexpected)) of them as expected here" >&2
status=0
if [ "$total" -ne "$skipped" ]; then
  echo "testthat counted $skipped skips, but its list of skips in $rout adds up to $total" >&2
  status=1
fi
if [ "$unexpected" -gt 0 ]; then
  echo "$unexpected test(s) skipped that must run here: see the reasons above" >&2
  status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
