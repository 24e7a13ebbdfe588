#!/usr/bin/env bash
# Build the HashiCorp Vault test server once per machine and print its path.
#
#   bin=$(bash .ci/vault.sh | tail -n1)
#   export CPX_VAULT_BIN=$bin
#
# The binary is the ordinary vault CLI built from the separate module in
# conformance/vaultserver (never imported by CPX's own module). It lands in
#   ${CPX_CACHE:-$HOME/.cache/cpx}/vault-v1.21.2/vault
# and is reused while that module's go.mod, go.sum and main.go are unchanged,
# so only the first run on a machine pays for the build (about 1 min of
# downloads and 8-25 min of compiling on 2 cores; see docs/vault.md). Override the
# output path with CPX_VAULT_OUT.
#
# Progress goes to stderr; the path of the binary is the only line on stdout.
# Vault is under the Business Source License 1.1: this is a local test server,
# never ship the binary with CPX.
set -euo pipefail

version=v1.21.2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/conformance/vaultserver
cache=${CPX_CACHE:-${HOME:?HOME is not set}/.cache/cpx}
out=${CPX_VAULT_OUT:-$cache/vault-$version/vault}
dir=$(dirname "$out")

log() { printf 'vault.sh: %s\n' "$*" >&2; }

# inputs identifies what the binary was built from; a change rebuilds it.
inputs=$(cd "$src" && cat go.mod go.sum main.go | sha256sum | cut -d' ' -f1)
stamp=$out.inputs

usable() {
	[ -x "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] &&
		"$out" version >/dev/null 2>&1
}

if usable; then
	log "using cached $("$out" version) at $out"
	printf '%s\n' "$out"
	exit 0
fi

mkdir -p "$dir"

# Serialise concurrent builds on one machine (two CI runs, or CI and a
# developer): the second waits and then finds the binary in place.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$dir/.lock"
	if ! flock -n 9; then
		log "another build holds $dir/.lock; waiting for it"
		flock 9
	fi
	if usable; then
		log "built meanwhile by another run: $out"
		printf '%s\n' "$out"
		exit 0
	fi
fi

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }
log "building Vault $version from $src with $(go env GOVERSION) (first run on this machine: expect 10-25 minutes on 2 cores)"
start=$(date +%s)

# The build uses the ordinary module cache (GOMODCACHE) and build cache
# (GOCACHE); -mod=readonly refuses to touch go.mod/go.sum. A partial build
# never reaches $out: the binary is written next to it and renamed.
tmp=$(mktemp "$dir/.vault.tmp.XXXXXX")
trap 'rm -f "$tmp"' EXIT
(
	cd "$src"
	export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"
	# Only the modules the build needs (go mod download would fetch the
	# test dependencies of all of Vault's dependencies too).
	go list -tags minimal -deps . >/dev/null
	log "modules ready after $(($(date +%s) - start)) s; compiling"
	go build -tags minimal -trimpath -ldflags='-s -w' -o "$tmp" .
)
"$tmp" version >/dev/null || { log "the built binary does not run"; exit 1; }
mv -f "$tmp" "$out"
printf '%s\n' "$inputs" >"$stamp"
trap - EXIT
log "built $("$out" version) in $(($(date +%s) - start)) s: $out"
printf '%s\n' "$out"
