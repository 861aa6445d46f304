#!/usr/bin/env bash
# deps.sh - install the Debian bookworm packages that building, testing and running Aegis need.
#
#   scripts/deps.sh               apt-get update, then install every package below
#   scripts/deps.sh --if-missing  do nothing when all are installed, else install the missing ones (make test/run)
#   scripts/deps.sh --list        print the packages, one a line
#
# Uses sudo when not root. Exits non-zero with a message saying what failed.
set -euo pipefail

# The one list of packages. Keep it in step with the Makefile's PKGS and the tools the scripts call.
PACKAGES=(
	# build: compiler, make, pkg-config, the protobuf-c code generator
	build-essential pkg-config protobuf-c-compiler
	# libraries the Makefile links (headers; the runtime libraries come with them)
	libnats-dev libprotobuf-c-dev libuv1-dev libhttp-parser-dev libcurl4-openssl-dev libjansson-dev
	libsodium-dev libmagic-dev libpq-dev libssl-dev
	# document parsers of the extraction workers (poppler, libzip, libxml2, libexif; Tesseract + Leptonica for OCR)
	libpoppler-glib-dev libzip-dev libxml2-dev libexif-dev libtesseract-dev libleptonica-dev
	# OCR language data, and clamd for the malware scan (its unit test starts a private clamd)
	tesseract-ocr tesseract-ocr-eng clamav-daemon
	# needed at run time: libmagic's database, CA roots for HTTPS (OpenAI-compatible endpoints, S3)
	libmagic-mgc ca-certificates
	# servers of the dev stack and the tests (scripts/devstack)
	nats-server postgresql postgresql-contrib
	# tools the scripts and tests call: curl, jq, file, ps/pgrep, ss, git (make check-format)
	curl jq file procps iproute2 git
	# tests/integration/auth.sh: openssl signs the tokens of its stand-in OIDC provider (python3 serves the JWKS)
	openssl
	# corpus tests (tests/integration/corpus.sh): document producers and reference extractors
	pandoc poppler-utils groff ghostscript python3 postgresql-client
	# the Kubernetes manifest checks (tests/k8s; Debian's Go 1.19 builds them)
	golang-go
	# tests/integration/live.sh: the web page in headless Chromium, driven through chromedriver
	chromium chromium-driver
	# fuzzing (libFuzzer) and formatting (.clang-format); libclang-rt-14-dev holds the libFuzzer and sanitizer runtimes
	clang clang-format libclang-rt-14-dev
	# make bench-gateway: wrk drives the load; nginx-light (with its echo module) is the reference server
	wrk nginx-light
	# make compose-test: scripts/base-image builds the images' Debian base with debootstrap (no registry needed)
	debootstrap
)

PROG=deps.sh
die() {
	echo "$PROG: $*" >&2
	exit 1
}

usage() {
	sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-2}"
}

# Packages not fully installed ("install ok installed"), one a line.
missing_packages() {
	local p status
	for p in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || echo "$p"
	done
}

mode=all
case ${1:-} in
"") ;;
--if-missing) mode=missing ;;
--list)
	printf '%s\n' "${PACKAGES[@]}"
	exit 0
	;;
-h | --help) usage 0 ;;
*) echo "$PROG: unknown option '$1'" >&2; usage 2 ;;
esac
[ $# -le 1 ] || { echo "$PROG: one option at most" >&2; usage 2; }

command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 ||
	die "this script installs Debian (bookworm) packages with apt-get; elsewhere install the equivalents of: ${PACKAGES[*]}"

mapfile -t missing < <(missing_packages)
if [ "$mode" = missing ]; then
	if [ ${#missing[@]} -eq 0 ]; then
		echo "$PROG: all ${#PACKAGES[@]} packages are installed"
		exit 0
	fi
	to_install=("${missing[@]}")
else
	to_install=("${PACKAGES[@]}")
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "not root and sudo is missing: run as root to install ${to_install[*]}"
	sudo=(sudo)
fi
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)

echo "$PROG: installing ${to_install[*]}"
"${apt[@]}" update -q || die "apt-get update failed (is the package mirror reachable?)"
"${apt[@]}" install -y -q --no-install-recommends "${to_install[@]}" ||
	die "apt-get install failed for: ${to_install[*]}"

# clamav-daemon starts a system clamd (and freshclam, which downloads signatures): Aegis' tests run their own
# clamd with a private database, so stop and disable the packaged services where systemd runs them.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	"${sudo[@]}" systemctl disable --now clamav-daemon.service clamav-freshclam.service >/dev/null 2>&1 || true
fi

mapfile -t missing < <(missing_packages)
[ ${#missing[@]} -eq 0 ] || die "still not installed after apt-get: ${missing[*]}"
echo "$PROG: all ${#PACKAGES[@]} packages are installed"
