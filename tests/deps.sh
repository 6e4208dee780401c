#!/bin/sh
# Install the given Debian packages when missing (as root), or print the
# exact apt-get line to run and fail.
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "relayd: missing packages; run as root:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
# Postfix is wanted only for smtp-sink/smtp-source and private test
# instances: never let it set up a system MTA.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# prometheus is wanted only for promtool: no service is started while
# packages install (policy-rc.d, when the machine has none of its own).
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1
fi
rc=0
apt-get install -y -q $missing >/dev/null ||
	{ apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; } || rc=1
[ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
exit $rc
