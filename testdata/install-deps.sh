#!/bin/bash
# Installs the programs the end-to-end tests of cmd/sekisho run against:
# Postfix, swaks, clamd (with sigtool and ClamAV's test files), rbldnsd,
# Redis, supervisord, and Sendmail. Installing sendmail-bin would remove
# Postfix (both are mail-transport-agent), so Sendmail's packages are only
# downloaded and unpacked under $sendmail_cache; m4 builds its .cf files and
# the libraries sendmail-bin needs beyond what Postfix brings (checked with
# ldd) are installed. Idempotent; run as
# root on Debian 12.
set -euo pipefail

packages=(postfix swaks clamav-daemon clamav-testfiles rbldnsd redis-server supervisor
	m4 libldap-2.5-0 libwrap0)
programs=(/usr/sbin/postfix /usr/bin/swaks /usr/sbin/clamd /usr/bin/sigtool
	/usr/sbin/rbldnsd /usr/bin/redis-server /usr/bin/supervisord /usr/bin/m4)

sendmail_cache=/var/cache/sekisho-test/sendmail
sendmail_root=$sendmail_cache/root
sendmail_packages=(sendmail-bin sendmail-base sendmail-cf)
sendmail_bin=$sendmail_root/usr/libexec/sendmail/sendmail
sendmail_files=("$sendmail_bin" "$sendmail_root/usr/share/sendmail/cf/m4/cf.m4")

# sendmail_ok: Sendmail is unpacked and finds its shared libraries.
sendmail_ok() {
	local f
	for f in "${sendmail_files[@]}"; do
		[ -e "$f" ] || return 1
	done
	local libs
	libs=$(ldd "$sendmail_bin") || return 1
	[[ $libs != *"not found"* ]]
}

missing=()
for p in "${programs[@]}"; do
	[ -x "$p" ] || missing+=("$p")
done
[ -d /usr/share/clamav-testfiles ] || missing+=(/usr/share/clamav-testfiles)
sendmail_ok || missing+=("$sendmail_bin")

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

# Sendmail: the three packages in the cache (all fetched again if one is
# missing, so that their versions match), unpacked afresh into
# $sendmail_root.
have_debs=yes
for p in "${sendmail_packages[@]}"; do
	compgen -G "$sendmail_cache/${p}_*.deb" >/dev/null || have_debs=no
done
if [ "$have_debs" = no ]; then
	echo "install-deps: apt-get download ${sendmail_packages[*]} into $sendmail_cache"
	mkdir -p "$sendmail_cache"
	chmod 0755 "$sendmail_cache"
	rm -f "$sendmail_cache"/*.deb
	download=$(mktemp -d)
	# apt drops privileges to _apt for downloads.
	chown _apt "$download" 2>/dev/null || true
	(cd "$download" && apt-get download "${sendmail_packages[@]}")
	mv "$download"/*.deb "$sendmail_cache"/
	rmdir "$download"
fi
for f in "${sendmail_files[@]}"; do
	if [ ! -e "$f" ]; then
		echo "install-deps: unpacking ${sendmail_packages[*]} into $sendmail_root"
		unpack=$(mktemp -d "$sendmail_cache/root.XXXXXX")
		for p in "${sendmail_packages[@]}"; do
			dpkg-deb -x "$sendmail_cache/${p}"_*.deb "$unpack"
		done
		chmod 0755 "$unpack"
		rm -rf "$sendmail_root"
		mv "$unpack" "$sendmail_root"
		break
	fi
done

still=()
for p in "${programs[@]}"; do
	[ -x "$p" ] || still+=("$p")
done
sendmail_ok || still+=("$sendmail_bin ($(ldd "$sendmail_bin" 2>&1 | grep 'not found' | tr -s ' \t\n' ' '))")
if [ ${#still[@]} -ne 0 ]; then
	echo "install-deps: still missing after install: ${still[*]}" >&2
	exit 1
fi
echo "install-deps: done"
