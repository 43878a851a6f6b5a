#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and run phr-node.
# Idempotent: every step checks first and is a no-op once done.
#
# The runtime compiles to WebAssembly (target wasm32v1-none). Where rustup can add that target we use it;
# where rustup cannot download (these build machines), we use Debian's rustc-web (1.96) and build
# core/alloc/compiler_builtins for wasm32v1-none once into its sysroot. See docs/toolchain.md.
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=(protobuf-compiler clang libclang-dev build-essential pkg-config libssl-dev curl git python3)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not installed. Install Rust with rustup (https://rustup.rs) and run this again." >&2
  exit 1
fi
command -v cargo-nextest >/dev/null 2>&1 || log "cargo-nextest not found: tests run with plain cargo test"

# The web portal: Node.js 20.19+ with npm builds it (Vite), Debian's chromium runs its browser tests.
web_missing=()
command -v node >/dev/null 2>&1 || web_missing+=(nodejs npm)
dpkg -s chromium >/dev/null 2>&1 || web_missing+=(chromium)
if [ ${#web_missing[@]} -gt 0 ]; then
  log "installing Debian packages for the portal: ${web_missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${web_missing[@]}"
fi
node_version=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
  echo "setup: the portal needs Node.js 20.19 or newer, this machine has $node_version (Debian 12's nodejs is 18):" >&2
  echo "       install Node.js 20+ (Debian 13's nodejs, or nodejs.org's packages) and run this again." >&2
  exit 1
fi

stamp_dir=/usr/lib/rustlib/wasm32v1-none/lib
wasm_target_ready() {
  # substrate-wasm-builder treats a target as installed when <sysroot>/lib/rustlib/<target>/lib exists.
  local sysroot
  sysroot=$(rustc --print sysroot)
  [ -d "$sysroot/lib/rustlib/wasm32v1-none/lib" ] && [ -d "$sysroot/lib/rustlib/src/rust/library" ]
}

if wasm_target_ready; then
  log "rustup toolchain already has wasm32v1-none and rust-src"
  exit 0
fi
if rustup target add wasm32v1-none >/dev/null 2>&1 && rustup component add rust-src >/dev/null 2>&1; then
  log "installed wasm32v1-none and rust-src with rustup"
  exit 0
fi

log "rustup cannot download here: using Debian's rustc-web for the runtime's WASM"
web_pkgs=()
for p in rustc-web cargo-web rust-web-src lld-22; do dpkg -s "$p" >/dev/null 2>&1 || web_pkgs+=("$p"); done
if [ ${#web_pkgs[@]} -gt 0 ]; then
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${web_pkgs[@]}"
fi

web_version=$(/usr/bin/rustc --version)
if [ "$(cat "$stamp_dir/.phr-rustc-version" 2>/dev/null)" != "$web_version" ]; then
  log "building core/alloc for wasm32v1-none with $web_version (once, about a minute)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src"
  cat >"$work/Cargo.toml" <<'TOML'
[package]
name = "wasm-sysroot"
version = "0.0.0"
edition = "2021"
[lib]
crate-type = ["cdylib"]
[profile.release]
panic = "abort"
TOML
  cat >"$work/src/lib.rs" <<'RS'
#![no_std]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
RS
  (cd "$work" && RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cembed-bitcode=yes" RUSTC=/usr/bin/rustc \
     CARGO_TARGET_DIR="$work/target" /usr/bin/cargo build -q --release \
     -Zbuild-std=core,alloc -Zbuild-std-features=compiler-builtins-mem --target wasm32v1-none)
  as_root mkdir -p "$stamp_dir"
  as_root rm -f "$stamp_dir"/lib*.rlib
  for lib in core alloc compiler_builtins; do
    as_root cp "$work"/target/wasm32v1-none/release/deps/lib${lib}-*.rlib "$stamp_dir/"
  done
  echo "$web_version" | as_root tee "$stamp_dir/.phr-rustc-version" >/dev/null
  # A changed sysroot is invisible to cargo: drop the runtime's cached WASM build.
  rm -rf "${CARGO_TARGET_DIR:-$HOME/.cache/phr-target}/release/wbuild/phr-runtime/target"
fi

if ! rustup toolchain list | grep -q '^debian-web'; then
  rustup toolchain link debian-web /usr
fi
log "WASM toolchain ready (build with WASM_BUILD_TOOLCHAIN=debian-web, see scripts/env.sh)"
