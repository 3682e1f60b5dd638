#!/bin/bash
# Installs everything the tests run against: Postfix (with smtp-source and
# smtp-sink), swaks, clamd with sigtool and ClamAV's test files, rbldnsd,
# Redis (server, Sentinel and redis-cli --cluster), supervisord, zip and 7-Zip, the
# tools that make the archives and disc images the inspection opens (bzip2, xz,
# zstd, GNU tar, genisoimage, xorriso, mkudffs, pycdlib, isolinux, mkfs.fat, mtools,
# sfdisk, qemu-img, gcab and its test cabinets, cabextract, lhasa, jlha with its
# Java runtime), openssl for S/MIME, PostgreSQL (the history store of several
# MX hosts), Chromium (the console's browser tests), and Sendmail.
#
# Every package is named here and installed with --no-install-recommends,
# so that the result does not depend on how APT is configured: a package
# that another one only recommends (clamav, which ships sigtool, for
# clamav-daemon) is listed itself. Each file a test needs is paired with the
# package that ships it (checked with dpkg -S); after the install every file
# is checked again and a missing one is reported with its package.
#
# Installing sendmail-bin would remove Postfix (both are
# mail-transport-agent), so Sendmail's packages are only downloaded and
# unpacked under $sendmail_cache; m4 builds its .cf files, and the libraries
# sendmail-bin needs beyond what Postfix brings (checked with ldd) are
# installed. Idempotent; run as root on Debian 12.
set -euo pipefail

# needs: "FILE PACKAGE" for every file a test uses.
needs=(
	"/usr/sbin/postfix postfix"
	"/usr/sbin/postqueue postfix"
	"/usr/sbin/smtp-source postfix"
	"/usr/sbin/smtp-sink postfix"
	"/usr/bin/swaks swaks"
	"/usr/sbin/clamd clamav-daemon"
	"/usr/bin/sigtool clamav"
	"/usr/share/clamav-testfiles/clam.exe clamav-testfiles"
	"/usr/sbin/rbldnsd rbldnsd"
	"/usr/bin/redis-server redis-server"
	"/usr/bin/redis-cli redis-tools"
	"/usr/bin/supervisord supervisor"
	"/usr/bin/supervisorctl supervisor"
	"/usr/bin/m4 m4"
	"/usr/bin/unshare util-linux"
	"/usr/bin/zip zip"
	"/usr/bin/7z p7zip-full"
	"/usr/bin/openssl openssl"
	"/bin/bzip2 bzip2"
	"/usr/bin/xz xz-utils"
	"/usr/bin/zstd zstd"
	"/bin/tar tar"
	"/bin/gzip gzip"
	"/usr/bin/genisoimage genisoimage"
	"/usr/bin/xorriso xorriso"
	"/usr/sbin/mkudffs udftools"
	"/usr/bin/pycdlib-genisoimage python3-pycdlib"
	"/usr/lib/ISOLINUX/isohdpfx.bin isolinux"
	"/usr/sbin/mkfs.fat dosfstools"
	"/usr/bin/mcopy mtools"
	"/usr/sbin/sfdisk fdisk"
	"/usr/bin/qemu-img qemu-utils"
	"/usr/bin/gcab gcab"
	"/usr/bin/cabextract cabextract"
	"/usr/libexec/installed-tests/libgcab-1.0/CVE-2015-4471.cab libgcab-tests"
	"/usr/bin/lhasa lhasa"
	"/usr/bin/jlha jlha-utils"
	"/usr/lib/jvm/java-17-openjdk-amd64/bin/java openjdk-17-jre-headless"
	"/usr/bin/msoffcrypto-tool python3-msoffcrypto-tool"
	"/usr/bin/qpdf qpdf"
	"/usr/bin/soffice libreoffice-common"
	"/usr/lib/libreoffice/program/libsclo.so libreoffice-calc-nogui"
	"/usr/lib/libreoffice/program/libswlo.so libreoffice-writer-nogui"
	"/usr/sbin/useradd passwd"
	"/usr/sbin/userdel passwd"
	"/usr/sbin/usermod passwd"
	"/usr/bin/setpriv util-linux"
	"/sbin/runuser util-linux"
	"/usr/bin/gpasswd passwd"
	"/usr/bin/dpkg dpkg"
	"/usr/bin/dpkg-query dpkg"
	"/usr/bin/systemd-analyze systemd"
	"/usr/sbin/postsuper postfix"
	"/usr/sbin/sendmail postfix"
	"/usr/sbin/postcat postfix"
	"/usr/bin/promtool prometheus"
	"/usr/lib/postgresql/15/bin/initdb postgresql-15"
	"/usr/lib/postgresql/15/bin/postgres postgresql-15"
	"/usr/bin/chromium chromium"
)
# sendmail_libs are the libraries the unpacked sendmail needs beyond what
# Postfix brings; sendmail_ok checks them with ldd.
sendmail_libs=(libldap-2.5-0 libwrap0)

sendmail_cache=/var/cache/sekisho-test/sendmail
sendmail_root=$sendmail_cache/root
sendmail_packages=(sendmail-bin sendmail-base sendmail-cf)
sendmail_bin=$sendmail_root/usr/libexec/sendmail/sendmail
sendmail_files=("$sendmail_bin" "$sendmail_root/usr/share/sendmail/cf/m4/cf.m4")

# packages lists every package of $needs once, and Sendmail's libraries.
packages=("${sendmail_libs[@]}")
for n in "${needs[@]}"; do
	p=${n#* }
	[[ " ${packages[*]} " == *" $p "* ]] || packages+=("$p")
done

# absent prints "FILE (package PACKAGE)" for every needed file that is not
# there.
absent() {
	local n
	for n in "${needs[@]}"; do
		[ -e "${n%% *}" ] || echo "${n%% *} (package ${n#* })"
	done
}

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

# redis_ok: redis-server runs as a Sentinel (redis-server --sentinel; no
# redis-sentinel package is needed, it only adds a service) and redis-cli
# creates clusters (--cluster, Redis 5 or later): the store tests start a
# Sentinel setup and a 3-master Redis Cluster with them.
redis_ok() {
	[ -x /usr/bin/redis-server ] && [ -x /usr/bin/redis-cli ] || return 1
	local out
	# Both exit 1: a Sentinel without a configuration file says so, and
	# --cluster help lists the cluster commands.
	out=$(/usr/bin/redis-server --sentinel 2>&1) || true
	[[ $out == *"Sentinel needs config file"* ]] || return 1
	out=$(/usr/bin/redis-cli --cluster help 2>&1) || true
	[[ $out == *"create"* ]]
}

# The unprivileged user sekisho runs as in the recommended deployment (and
# in its end-to-end test): a member of group postfix, so that it can give
# its unix socket to that group.
user_ok() { id -nG sekisho 2>/dev/null | tr ' ' '\n' | grep -qx postfix; }

missing=$(absent)
sendmail_missing=no
sendmail_ok || sendmail_missing=yes
user_missing=no
user_ok || user_missing=yes
redis_missing=no
redis_ok || redis_missing=yes

if [ -z "$missing" ] && [ "$sendmail_missing" = no ] && [ "$user_missing" = no ] && [ "$redis_missing" = no ]; then
	echo "install-deps: all test dependencies present"
	exit 0
fi
if [ -n "$missing" ]; then
	echo "install-deps: missing:"
	echo "$missing" | sed 's/^/  /'
fi
[ "$sendmail_missing" = no ] || echo "install-deps: missing: Sendmail under $sendmail_root (${sendmail_packages[*]}, unpacked)"
[ "$user_missing" = no ] || echo "install-deps: missing: user sekisho in group postfix"
[ "$redis_missing" = no ] || echo "install-deps: missing: redis-server --sentinel or redis-cli --cluster (redis-server, redis-tools)"

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

echo "install-deps: apt-get install --no-install-recommends ${packages[*]}"
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

if ! user_ok; then
	if id sekisho >/dev/null 2>&1; then
		echo "install-deps: usermod -a -G postfix sekisho"
		usermod -a -G postfix sekisho
	else
		echo "install-deps: useradd --system --groups postfix sekisho"
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --groups postfix sekisho
	fi
fi

failed=no
still=$(absent)
if [ -n "$still" ]; then
	echo "install-deps: still missing after install; these packages did not provide them:" >&2
	echo "$still" | sed 's/^/  /' >&2
	failed=yes
fi
if ! sendmail_ok; then
	echo "install-deps: Sendmail under $sendmail_root does not run (libraries from ${sendmail_libs[*]}): $(ldd "$sendmail_bin" 2>&1 | grep 'not found' | tr -s ' \t\n' ' ')" >&2
	failed=yes
fi
if ! user_ok; then
	echo "install-deps: user sekisho is not in group postfix" >&2
	failed=yes
fi
if ! redis_ok; then
	echo "install-deps: redis-server --sentinel or redis-cli --cluster does not work ($(/usr/bin/redis-server --version 2>&1))" >&2
	failed=yes
fi
[ "$failed" = no ] || exit 1
echo "install-deps: done"
