#!/usr/bin/env bash
# System packages the tests need, from Debian's archive (run as root, or it uses sudo):
#   g++-mingw-w64-x86-64   cross-compiles the Windows addon (npm run build:win)
#   wine64                 runs the Windows build of Node on that addon (smoke test)
#   clang-16 lld-16        build the MSVC-ABI vssapi.dll stand-in and its ABI oracle (test/win-standin)
#   btrfs-progs xfsprogs   filesystems the snapshot tests format on loop devices
#   util-linux             losetup, fsfreeze, mount
#   g++-aarch64-linux-gnu  cross-compiles the linux-arm64 prebuild
#   qemu-user              runs the arm64 build of Node on that prebuild (smoke test)
#   python3 make g++       node-gyp's build of the Linux addon
#   openssl                self-signed certificates for the TDS 8 strict-TLS tests
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PACKAGES=(g++-mingw-w64-x86-64 wine64 clang-16 lld-16 btrfs-progs xfsprogs util-linux python3 make g++ openssl g++-aarch64-linux-gnu qemu-user)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "system packages ready: ${PACKAGES[*]}"
