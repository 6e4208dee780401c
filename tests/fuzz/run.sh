#!/bin/sh
# run.sh — `make fuzz`: run libFuzzer harnesses one after the other.
#
#   sh tests/fuzz/run.sh DIR SECONDS TARGET...
#
# Each DIR/TARGET runs for SECONDS on DIR/corpus-TARGET, which gets the
# committed seeds of tests/fuzz/corpus/TARGET/ copied in and keeps what
# earlier runs found (libFuzzer adds new inputs to it; the committed corpus
# is never written). One run at a time, one process each: the machine has
# two cores and the other one is for everything else.
#
# Prints per target the execs/s, the final cov: and ft: and the corpus
# size; for a crash, leak or timeout the path of the saved input and the
# first lines of the report (the whole log is DIR/TARGET.log). Exits 1 when
# any target failed.

set -u
dir=$1
secs=$2
shift 2
failed=0

for t in "$@"; do
	corpus=$dir/corpus-$t
	log=$dir/$t.log
	mkdir -p "$corpus"
	cp tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
	case $t in
	fuzz_conf) dict=tests/fuzz/conf.dict ;;
	fuzz_spool_fmt) dict=tests/fuzz/spool.dict ;;
	*) dict=tests/fuzz/smtp.dict ;;
	esac
	UBSAN_OPTIONS=print_stacktrace=1 "$dir/$t" -max_total_time="$secs" -timeout=25 \
		-print_final_stats=1 -dict="$dict" -artifact_prefix="$dir/$t-" \
		"$corpus" </dev/null >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	n=$(ls "$corpus" | wc -l)
	printf '%-18s %6s execs/s  cov: %-5s ft: %-6s corpus: %s\n' "$t" "${execs:-?}" \
		"${cov:-?}" "${ft:-?}" "$n"
	if [ "$rc" -ne 0 ]; then
		failed=1
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		echo "  FAILED (exit $rc): input ${art:-not saved}; log $log"
		grep -m 5 -E 'ERROR|invariant broken|runtime error|SUMMARY' "$log" | sed 's/^/  /'
	fi
done
exit $failed
