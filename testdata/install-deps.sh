#!/bin/bash
# Installs the programs the end-to-end tests of cmd/sekisho run against:
# Postfix, swaks, clamd (with sigtool and ClamAV's test files), rbldnsd,
# Redis and supervisord. Idempotent; run as root on Debian 12.
set -euo pipefail

packages=(postfix swaks clamav-daemon clamav-testfiles rbldnsd redis-server supervisor)
programs=(/usr/sbin/postfix /usr/bin/swaks /usr/sbin/clamd /usr/bin/sigtool
	/usr/sbin/rbldnsd /usr/bin/redis-server /usr/bin/supervisord)

missing=()
for p in "${programs[@]}"; do
	[ -x "$p" ] || missing+=("$p")
done
[ -d /usr/share/clamav-testfiles ] || missing+=(/usr/share/clamav-testfiles)

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all test dependencies present"
	exit 0
fi
echo "install-deps: missing: ${missing[*]}"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root to install: ${packages[*]}" >&2
	exit 1
fi

# Debian's maintainer scripts start each daemon at install unless
# policy-rc.d forbids it (exit 101). The tests start their own instances.
policy=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e "$policy" ]; then
	echo "install-deps: creating $policy (exit 101) for the install"
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	created_policy=yes
fi
cleanup() {
	if [ "$created_policy" = yes ]; then
		echo "install-deps: removing $policy"
		rm -f "$policy"
	fi
}
trap cleanup EXIT

# No /etc/postfix/main.cf: the tests write their own configuration.
echo "install-deps: debconf postfix/main_mailer_type = No configuration"
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

echo "install-deps: apt-get update"
apt-get update

echo "install-deps: apt-get install ${packages[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

still=()
for p in "${programs[@]}"; do
	[ -x "$p" ] || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
	echo "install-deps: still missing after install: ${still[*]}" >&2
	exit 1
fi
echo "install-deps: done"
