#!/bin/sh
# Writes seed inputs for fuzz_apt_text into DIR (default: the corpus
# `make fuzz` uses): one of each text the target parses, as Debian's tools
# write it, which a fresh run is slow to stumble on (an Inst line with its
# brackets, a deb822 stanza, an ar header, a lock).
#
#   tests/fuzz/fuzz_apt_text_seeds.sh && make fuzz
set -eu
dir=${1:-out/fuzz/corpus-fuzz_apt_text}
mkdir -p "$dir"

cat >"$dir/seed-simulate" <<'END'
Reading package lists...
Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []
Inst bsdutils (1:2.38.1-5+deb12u3 Debian:12.15/oldstable [amd64])
Conf libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])
END

cat >"$dir/seed-errors" <<'END'
W: Some index files failed to download
E: setup failed: E: apt-get --yes install failed
E: Unable to locate package nosuch
E: mmdebstrap failed to run
END

cat >"$dir/seed-sources-list" <<'END'
bookworm
# deb http://commented/debian bookworm main
deb-src http://src/debian bookworm main
deb [arch=amd64 signed-by=/x] http://m/debian bookworm main contrib
END

cat >"$dir/seed-sources-deb822" <<'END'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
Enabled: no
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
END

cat >"$dir/seed-os-release" <<'END'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
VERSION_CODENAME="bookworm"
ID=debian
END

# "!<arch>\n", debian-binary's 60-byte member header, its "2.0\n".
printf '!<arch>\n%-16s%-12s%-6s%-6s%-8s%-10s`\n2.0\n' debian-binary 1760000000 0 0 100644 4 \
	>"$dir/seed-deb"

cat >"$dir/seed-lock" <<'END'
name = web
suite = bookworm
variant = minbase
format = squashfs
mirror = http://deb.debian.org/debian
security = none
packages = libc6
file = conf/a:/etc/a
customize = run.sh
epoch = 1760000000
pin = bsdutils=1:2.38.1-5+deb12u3 amd64
pin = libc6=2.36-9+deb12u14 amd64
sha256 = 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
END
