#!/usr/bin/env bash
# Build the Mailpit SMTP test server once per machine and print its path.
#
#   bin=$(bash .ci/mailpit.sh | tail -n1)
#   export CPX_MAILPIT_BIN=$bin
#
# Mailpit (github.com/axllent/mailpit, MIT) is a Go program served by the
# module proxy; its go.mod has no replace directives, so `go install
# module@version` builds it without a module of our own. It lands in
#   ${CPX_CACHE:-$HOME/.cache/cpx}/mailpit-v1.33.1/mailpit
# and is reused while the version is unchanged. Override the output path
# with CPX_MAILPIT_OUT. Progress goes to stderr; the path of the binary is
# the only line on stdout. The conformance tests start it per test on free
# ports (SMTP and its HTTP API) and read the delivered messages back.
set -euo pipefail

version=v1.33.1
cache=${CPX_CACHE:-${HOME:?HOME is not set}/.cache/cpx}
out=${CPX_MAILPIT_OUT:-$cache/mailpit-$version/mailpit}
dir=$(dirname "$out")

log() { printf 'mailpit.sh: %s\n' "$*" >&2; }

usable() { [ -x "$out" ] && "$out" --help >/dev/null 2>&1; }

if usable; then
	log "using cached $out"
	printf '%s\n' "$out"
	exit 0
fi

mkdir -p "$dir"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$dir/.lock"
	if ! flock -n 9; then
		log "another build holds $dir/.lock; waiting for it"
		flock 9
	fi
	if usable; then
		printf '%s\n' "$out"
		exit 0
	fi
fi

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }
log "building Mailpit $version with $(go env GOVERSION) (first run on this machine)"
start=$(date +%s)
bin=$(mktemp -d "$dir/.bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
(
	cd "$bin"
	export CGO_ENABLED=0 GOBIN="$bin" GOFLAGS="${GOFLAGS:-} -buildvcs=false"
	go install -trimpath -ldflags='-s -w' "github.com/axllent/mailpit@$version"
)
"$bin/mailpit" --help >/dev/null || { log "the built binary does not run"; exit 1; }
mv -f "$bin/mailpit" "$out"
log "built $out in $(($(date +%s) - start)) s"
printf '%s\n' "$out"
