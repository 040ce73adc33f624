#!/bin/sh
# check-config.sh CONFIG FRAGMENT...
# Fails, naming every symbol, when a value a fragment asks for did not
# survive into the merged CONFIG (a missing dependency, a typo, a symbol
# the architecture does not have). merge_config.sh only warns about these.
set -eu
config=$1; shift
bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
for frag in "$@"; do
	sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)$/\1 \2/p' \
	       -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1 n/p' "$frag" |
	while read -r sym want; do
		got=$(sed -n -e "s/^$sym=\\(.*\\)\$/\\1/p" \
		             -e "s/^# $sym is not set\$/n/p" "$config")
		[ -n "$got" ] || got=n
		[ "$got" = "$want" ] ||
			echo "$sym: requested $want in ${frag##*/}, got $got" >>"$bad"
	done
done
if [ -s "$bad" ]; then
	echo "kernel config: requested symbols did not survive the merge:" >&2
	sed 's/^/  /' "$bad" >&2
	exit 1
fi
