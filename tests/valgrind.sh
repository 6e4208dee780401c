#!/bin/sh
# Run the integration suite with every relayd under valgrind memcheck and
# summarise: no invalid access, no definite leak. Usage: tests/valgrind.sh
# [pytest args]. Logs: build/vg/logs/relayd.PID.log. Tests that bound
# relayd's RSS fail under valgrind (its own memory counts); they are
# reported but do not count against memcheck's verdict. relayd links
# jemalloc: --soname-synonyms lets memcheck replace its malloc.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
make -C "$top" -s all || exit 1
vg="$top/build/vg"
mkdir -p "$vg/logs"
rm -f "$vg/logs"/*.log
cat >"$vg/relayd" <<EOS
#!/bin/sh
exec valgrind --tool=memcheck '--soname-synonyms=somalloc=libjemalloc.so*' \
	--leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --log-file=$vg/logs/relayd.%p.log $top/build/relayd "\$@"
EOS
chmod +x "$vg/relayd"
ln -sf "$top/build/relayctl" "$vg/relayctl"
cd "$top" && RELAYD_BUILD=build/vg RELAYD_TEST_TIMEOUT=120 \
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
n=$(ls "$vg/logs" | wc -l)
bad=$(grep -L "ERROR SUMMARY: 0 errors" "$vg/logs"/*.log | xargs -r grep -l "ERROR SUMMARY" || true)
echo "valgrind: $n relayd processes; with errors or definite leaks: ${bad:-none}"
[ -z "$bad" ]
