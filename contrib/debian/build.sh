#!/bin/bash
# Builds the sekisho Debian package: bash contrib/debian/build.sh OUTDIR
# writes OUTDIR/sekisho_VERSION_ARCH.deb. The package is made by nfpm,
# run from the Go module proxy at the version below. VERSION is
# SEKISHO_VERSION when set, else the tag vX.Y.Z of HEAD as X.Y.Z, else
# 0.0~gitYYYYMMDD.REV from the last commit.
set -euo pipefail
nfpm=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

[ $# -eq 1 ] || { echo "usage: bash contrib/debian/build.sh OUTDIR" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."

version=${SEKISHO_VERSION:-}
if [ -z "$version" ]; then
	if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
		version=${tag#v}
	elif rev=$(git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null); then
		version=0.0~git$rev
	else
		version=0.0~unknown
	fi
fi
arch=$(go env GOARCH)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A static binary (the user and group databases are read from /etc), with
# the package's version and, from a clone, the source revision.
CGO_ENABLED=0 go build -trimpath -buildvcs=auto \
	-ldflags "-s -w -X main.version=$version" -o "$work/sekisho" ./cmd/sekisho
gzip -9n <contrib/debian/sekisho.8 >"$work/sekisho.8.gz"

# nfpm expands variables in some fields only: the file names are put in
# here.
conf=$(<contrib/debian/nfpm.yaml)
conf=${conf//'${SEKISHO_VERSION}'/$version}
conf=${conf//'${SEKISHO_ARCH}'/$arch}
conf=${conf//'${SEKISHO_BIN}'/$work/sekisho}
conf=${conf//'${SEKISHO_MAN}'/$work/sekisho.8.gz}
printf '%s\n' "$conf" >"$work/nfpm.yaml"

deb="$out/sekisho_${version}_${arch}.deb"
go run "$nfpm" package --config "$work/nfpm.yaml" --packager deb --target "$deb"
echo "$deb"
