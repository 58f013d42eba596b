#!/usr/bin/env bash
# Installs the external tools the tests and benchmarks need, pinned, into .tools/.
# Every install fails loudly: a missing tool is an error, never a skipped test.
TOOLS_DIR="${TACK_TOOLS_DIR:-$PWD/.tools}"
PNPM_VERSION="12.21.0"
export TACK_TOOLS_DIR="$TOOLS_DIR"

ensure_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install --locked cargo-nextest
  fi
}

ensure_pnpm() {
  local bin="$TOOLS_DIR/pnpm12/node_modules/.bin/pnpm"
  if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
    echo "installing pnpm@$PNPM_VERSION into $TOOLS_DIR/pnpm12" >&2
    mkdir -p "$TOOLS_DIR/pnpm12"
    npm install --prefix "$TOOLS_DIR/pnpm12" --no-save --no-package-lock "pnpm@$PNPM_VERSION" >&2
    "$bin" --version >/dev/null
  fi
  export TACK_TEST_PNPM="$bin"
}

# The fs crate's reflink test loop-mounts a small xfs image (ext4 has no FICLONE).
ensure_xfsprogs() {
  if ! command -v mkfs.xfs >/dev/null 2>&1; then
    echo "installing xfsprogs (for the reflink test)" >&2
    apt-get update -qq && apt-get install -y -qq xfsprogs >&2
  fi
}

# The terminal reporter test runs tack under `script` (util-linux) for a pseudo-terminal.
ensure_script() {
  if ! command -v script >/dev/null 2>&1; then
    echo "installing util-linux's script (for the terminal reporter test)" >&2
    apt-get update -qq && apt-get install -y -qq bsdutils >&2
  fi
}

# The name lookup test counts the system resolver's reads of /etc/hosts under strace.
ensure_strace() {
  if ! command -v strace >/dev/null 2>&1; then
    echo "installing strace (for the name lookup test)" >&2
    apt-get update -qq && apt-get install -y -qq strace >&2
  fi
}

# The TLS handshake test runs `openssl s_server`: an OpenSSL server, as nginx is, ends a TLS 1.2
# handshake that lacks a client certificate with the alert rustls servers never send.
ensure_openssl() {
  if ! command -v openssl >/dev/null 2>&1; then
    echo "installing openssl (for the TLS handshake test)" >&2
    apt-get update -qq && apt-get install -y -qq openssl >&2
  fi
}

# The node-gyp build test compiles a C addon: make, a C compiler and python3 (node-gyp runs
# gyp with it). The node headers come with node itself (`<prefix>/include/node`).
ensure_node_gyp_toolchain() {
  if ! command -v make >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1 \
    || ! command -v python3 >/dev/null 2>&1; then
    echo "installing make, a C compiler and python3 (for the node-gyp build test)" >&2
    apt-get update -qq && apt-get install -y -qq build-essential python3 >&2
  fi
}

ensure_just() {
  if ! command -v just >/dev/null 2>&1; then
    python3 -m pip install --quiet rust-just
  fi
}

ensure_hyperfine() {
  if ! command -v hyperfine >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && apt-get install -y -qq hyperfine
    else
      cargo install --locked hyperfine
    fi
  fi
}
