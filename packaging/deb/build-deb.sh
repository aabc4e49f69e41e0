#!/usr/bin/env bash
# Build a .deb from the PyInstaller bundle.
#   bash packaging/deb/build-deb.sh [BUNDLE_DIR] [VERSION] [OUT_DIR]
# Installs to /opt/oncoboard, a launcher /usr/bin/oncoboard, a desktop entry and icon, and the
# site configuration /etc/oncoboard/config.toml (a conffile: kept on upgrade and on removal).
# User data (data folders) is never touched by installing, upgrading or removing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bundle=${1:-$root/build/dist/oncoboard}
version=${2:-$(grep -m1 '^version' "$root/pyproject.toml" | cut -d'"' -f2)}
out=${3:-$root/build}
pkg=${ONCOBOARD_DEB_NAME:-oncoboard}
[[ -x "$bundle/oncoboard" ]] || { echo "build-deb: no bundle at $bundle (run pyinstaller first)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
         "$stage/usr/share/icons/hicolor/scalable/apps" "$stage/etc/oncoboard" \
         "$stage/usr/share/doc/$pkg"
cp -a "$bundle" "$stage/opt/oncoboard"
install -m 0755 "$here/oncoboard-launcher.sh" "$stage/usr/bin/oncoboard"
install -m 0644 "$here/oncoboard.desktop" "$stage/usr/share/applications/oncoboard.desktop"
install -m 0644 "$here/oncoboard.svg" "$stage/usr/share/icons/hicolor/scalable/apps/oncoboard.svg"
install -m 0644 "$root/packaging/site/config.toml" "$stage/etc/oncoboard/config.toml"
install -m 0644 "$root/README.md" "$stage/usr/share/doc/$pkg/README.md"
echo "/etc/oncoboard/config.toml" > "$stage/DEBIAN/conffiles"
size_kb=$(du -sk "$stage" | cut -f1)
arch=$(dpkg --print-architecture)
conflicts=oncoboard-gpu; [[ $pkg == oncoboard-gpu ]] && conflicts=oncoboard
cat > "$stage/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Section: science
Priority: optional
Architecture: $arch
Installed-Size: $size_kb
Depends: libc6, libegl1, libgl1, libglx-mesa0 | libglx0, libxkbcommon0, libxkbcommon-x11-0, libfontconfig1, libdbus-1-3, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, libxcb-shape0, libxcb-xkb1, libxcb-xinerama0, libxrender1, libxi6
Conflicts: $conflicts
Replaces: $conflicts
Maintainer: Oncoboard maintainers <oncoboard@localhost>
Description: Tumour-board workstation: patient records, DICOM viewer, ONNX models
 Oncoboard loads FHIR/CSV patient records and DICOM volumes, runs validated ONNX
 plugin models offline with checked inputs and an audit trail, and supports
 tumour-board meetings with PDF reports. Runs without network access.
CONTROL
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
# Databases migrate themselves on first use by the new version; nothing to do for user data.
if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q || true; fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then gtk-update-icon-cache -q /usr/share/icons/hicolor || true; fi
exit 0
POSTINST
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
# Removal keeps user data (each user's data folder) and, unless purged, /etc/oncoboard.
if [ "$1" = "purge" ]; then rm -rf /etc/oncoboard; fi
exit 0
POSTRM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zzstd --build "$stage" "$deb" >/dev/null
echo "$deb"
