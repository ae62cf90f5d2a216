#!/usr/bin/env bash
# Runs every executable in DIR (cmocka unit-test binaries), shows their
# output, and sums cmocka's per-test counts into one summary line:
#   unit: N passed, N failed
# Exits non-zero if any binary fails (including a crash or a sanitizer
# report after the tests passed) or if none ran.
set -u
dir=${1:?usage: tests/run-unit.sh DIR}
passed=0 failed=0 ran=0 bad=0
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT

while IFS= read -r t; do
	ran=$((ran + 1))
	echo "== ${t#"$dir"/}"
	"$t" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	# Last "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)..." lines.
	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if ((rc != 0)) || [[ -z $p && -z $f ]]; then
		bad=$((bad + 1))
		# A crash, leak report or missing summary fails the binary even
		# when cmocka counted no failed test: count it once.
		if ((${f:-0} == 0)); then
			failed=$((failed + 1))
			echo "!! ${t##*/}: exit status $rc without a cmocka failure count"
		fi
	fi
done < <(find "$dir" -type f -perm -u+x | sort)

echo "unit: $passed passed, $failed failed"
if ((ran == 0)); then
	echo "!! no unit-test binaries in $dir" >&2
	exit 1
fi
((bad == 0 && failed == 0))
