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
apt-get install -y -q $missing >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; } || exit 1
