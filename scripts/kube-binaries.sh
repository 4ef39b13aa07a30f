#!/usr/bin/env bash
# Builds (once) and prints the directory holding kube-apiserver,
# kube-controller-manager and etcd for the integration tests.
#
# The binaries come from their Go modules through the Go module proxy:
# k8s.io/kubernetes cannot be `go install`ed (its go.mod has replace
# directives pointing at staging/), so a throwaway wrapper module requires it
# and replaces every staging module with its published v0.x twin.
#
# KUBEBUILDER_ASSETS (the envtest convention) names a directory that already
# holds the binaries: then nothing is built.  Otherwise the cache is
# ${LBPROVIDER_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lbprovider}/k8s-<version>.
# Progress goes to stderr; the directory path alone goes to stdout.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
BINARIES=(kube-apiserver kube-controller-manager etcd)

log() { printf '[kube-binaries] %s\n' "$*" >&2; }

have_all() {
  local dir="$1" bin
  for bin in "${BINARIES[@]}"; do [ -x "$dir/$bin" ] || return 1; done
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  have_all "$KUBEBUILDER_ASSETS" || { log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks one of: ${BINARIES[*]}"; exit 1; }
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

cache_root="${LBPROVIDER_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lbprovider}"
out="$cache_root/k8s-$KUBE_VERSION"
if have_all "$out"; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { log "Go is required to build the Kubernetes test binaries"; exit 1; }
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
started=$SECONDS

# --- kube-apiserver and kube-controller-manager ---------------------------
log "resolving k8s.io/kubernetes@$KUBE_VERSION"
kube_gomod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
staging_version="v0.${KUBE_VERSION#v1.}"
go_directive="$(awk '$1 == "go" { print $2; exit }' "$kube_gomod")"

mkdir -p "$work/kube"
{
  echo "module lbprovider.local/kubebinaries"
  echo
  echo "go $go_directive"
  echo
  # godebug settings change runtime behaviour; the binaries must keep upstream's.
  awk '/^godebug \(/ { inblock = 1 } inblock { print } inblock && /^\)/ { inblock = 0; next } /^godebug [^(]/ { print }' "$kube_gomod"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  # Every "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.N.M".
  awk -v v="$staging_version" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }' "$kube_gomod"
  echo ")"
} >"$work/kube/go.mod"
cat >"$work/kube/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
log "downloading Kubernetes modules (first run: several minutes)"
(cd "$work/kube" && go mod tidy -e >/dev/null 2>"$work/tidy.log") || { cat "$work/tidy.log" >&2; exit 1; }

pkg="k8s.io/component-base/version"
ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
ldflags="$ldflags -X $pkg/verflag.programName=kubernetes"
# --- etcd, in the background ----------------------------------------------------
# Debian's etcd 3.4 is older than kube-apiserver 1.37 accepts; build 3.6.  It builds
# beside the Kubernetes binaries: its downloads and links overlap their compiles.
build_etcd() {
  mkdir -p "$work/etcd"
  cat >"$work/etcd/go.mod" <<GOMOD
module lbprovider.local/etcdbinary

go $go_directive

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat >"$work/etcd/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  log "building etcd $ETCD_VERSION"
  (cd "$work/etcd" && go mod tidy -e >/dev/null 2>"$work/tidy-etcd.log") || { cat "$work/tidy-etcd.log" >&2; exit 1; }
  (cd "$work/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$out/etcd.tmp" "$out/etcd"
}
build_etcd &
etcd_build=$!

# --- kube-apiserver and kube-controller-manager, one build ------------------------
# One go build compiles the packages the two share once and links both side by side.
log "building kube-apiserver and kube-controller-manager $KUBE_VERSION (first run: about 8 minutes on 2 cores)"
mkdir -p "$work/bin"
(cd "$work/kube" && go build -trimpath -ldflags "$ldflags" -o "$work/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager) \
  || { kill "$etcd_build" 2>/dev/null; exit 1; }
wait "$etcd_build" || { log "building etcd failed"; exit 1; }
mv "$work/bin/kube-apiserver" "$work/bin/kube-controller-manager" "$out/"

log "built ${BINARIES[*]} into $out in $((SECONDS - started)) s"
echo "$out"
