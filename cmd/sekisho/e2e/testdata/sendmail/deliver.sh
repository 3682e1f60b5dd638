#!/bin/sh
# Local mailer of the Sendmail test instance: deliver.sh OUTDIR LOCALPART.
# Stores the message from stdin atomically in OUTDIR, after a Delivered-To
# line naming the recipient.
umask 022
out=$1
t=$(mktemp "$out/.tmp.XXXXXX") || exit 75
{ printf 'Delivered-To: %s\n' "$2" && cat; } >"$t" || exit 75
mv "$t" "$out/$(date +%s%N).$$.eml" || exit 75
