#!/usr/bin/env bash
# Packaging test (run by CI after the test suite; needs root for apt-get):
# build the bundle and the .deb, install it silently, run the installed copy offline
# (--version, doctor, demo, predict --json, audit verify), upgrade over it (an older database
# is migrated, data and site configuration kept), remove it (data kept), and print sizes and times.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then echo "test-package: needs root (apt-get install of the .deb)"; exit 1; fi
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

version=$(grep -m1 '^version' pyproject.toml | cut -d'"' -f2)
arch=$(dpkg --print-architecture)
step "build bundle and .deb (version $version, and $version.1 for the upgrade)"
bash packaging/build.sh
ONCOBOARD_DEB_NAME=oncoboard bash packaging/deb/build-deb.sh build/dist/oncoboard "$version.1" build >/dev/null
deb1=build/oncoboard_${version}_${arch}.deb
deb2=build/oncoboard_${version}.1_${arch}.deb

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export ONCOBOARD_HOME=$work/data
unset ONCOBOARD_SITE_CONFIG
export ONCOBOARD_USER_CONFIG=$work/user-config.toml

step "silent install"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb1" >/dev/null
[[ -x /usr/bin/oncoboard && -f /etc/oncoboard/config.toml && -f /usr/share/applications/oncoboard.desktop ]] \
  || fail "installed files missing"
run() { (cd "$work" && env -i HOME="$work" PATH=/usr/bin:/bin ONCOBOARD_HOME="$ONCOBOARD_HOME" \
         ONCOBOARD_USER_CONFIG="$ONCOBOARD_USER_CONFIG" oncoboard "$@"); }
run --version | grep -q "$version" || fail "--version"
step "doctor on a fresh install"; run doctor || fail "doctor"
step "demo"; run demo >/dev/null || fail "demo"
patient=$(run patients list --json | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")
step "predict $patient"; run predict "$patient" --json > "$work/pred.json" || fail "predict"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d, 'no prediction'" "$work/pred.json" \
  || fail "predict printed no prediction"
run audit verify >/dev/null || fail "audit verify"
step "desktop app from the bundle (offscreen screenshot of the patient list)"
(cd "$work" && env -i HOME="$work" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen \
   ONCOBOARD_HOME="$ONCOBOARD_HOME" ONCOBOARD_USER_CONFIG="$ONCOBOARD_USER_CONFIG" \
   oncoboard gui --screenshot "$work/patients.png" --view patients) || fail "gui --screenshot"
[[ $(stat -c %s "$work/patients.png") -gt 20000 ]] || fail "the screenshot is (nearly) empty"
patients_before=$(run patients list --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")

step "the bundle decodes JPEG lossless and 12-bit extended (imagecodecs, no GPL decoder)"
jpeg=$work/jpeg; mkdir -p "$jpeg"
.venv/bin/python - "$jpeg" <<'PY'
import sys
import imagecodecs
import numpy as np
import pydicom
from pydicom import uid
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
r, c = np.mgrid[0:48, 0:40]
img = ((r * 53 + c * 71) % 4096).astype(np.uint16)
for k, (ts, stream) in enumerate([
        (uid.JPEGLosslessSV1, imagecodecs.jpeg8_encode(img, lossless=True, bitspersample=12)),
        (uid.JPEGExtended12Bit, imagecodecs.jpeg8_encode(img, level=95, bitspersample=12))]):
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = uid.CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.4", f"1.2.3.4.{k + 1}"
    ds.PatientID, ds.Modality, ds.ImagePositionPatient = "JPEG", "CT", [0, 0, 0]
    ds.ImageOrientationPatient, ds.PixelSpacing = [1, 0, 0, 0, 1, 0], [1, 1]
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 48, 40, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.PixelData = encapsulate([stream])
    ds["PixelData"].VR = "OB"
    ds.save_as(f"{sys.argv[1]}/{k}.dcm", enforce_file_format=True)
np.save(f"{sys.argv[1]}/expected.npy", img)
PY
# exit 1 is expected here: the files are indexed and the report notes that no clinical
# patient has the PatientID JPEG yet
rc=0; out=$(run import dicom "$jpeg") || rc=$?
[ "$rc" -le 1 ] && grep -q "^2 files indexed in 2 series" <<<"$out" || fail "import of JPEG files (exit $rc): $out"
for k in 1 2; do
  run volume "1.2.3.4.$k" --out "$work/jpeg$k.npz" --no-cache >/dev/null || fail "JPEG series $k not decoded"
done
.venv/bin/python - "$work" <<'PY' || fail "JPEG pixels wrong"
import sys
import numpy as np
exp = np.load(f"{sys.argv[1]}/jpeg/expected.npy").astype(float)
lossless = np.load(f"{sys.argv[1]}/jpeg1.npz")["voxels"].reshape(exp.shape)
lossy = np.load(f"{sys.argv[1]}/jpeg2.npz")["voxels"].reshape(exp.shape)
assert np.array_equal(lossless, exp), "lossless JPEG not exact"
assert np.abs(lossy - exp).mean() < 20, "12-bit JPEG too far from the source"
PY

step "doctor sees a broken install: unwritable data folder, tampered plugin"
chmod 0500 "$ONCOBOARD_HOME"
if su nobody -s /bin/sh -c "ONCOBOARD_HOME=$ONCOBOARD_HOME HOME=/tmp oncoboard doctor" >/dev/null 2>&1; then
  chmod 0700 "$ONCOBOARD_HOME"; fail "doctor passed on an unwritable data folder"; fi
chmod 0755 "$ONCOBOARD_HOME"
plugin=$(ls -d /opt/oncoboard/_internal/plugins/*/ | head -1)
cp "$plugin/model.onnx" "$work/model.bak"; printf 'x' >> "$plugin/model.onnx"
if run doctor >/dev/null 2>&1; then cp "$work/model.bak" "$plugin/model.onnx"; fail "doctor passed with a tampered plugin"; fi
cp "$work/model.bak" "$plugin/model.onnx"

step "upgrade keeps data and site settings, and migrates an older database"
sed -i 's/^language = "en"/language = "fr"/' /etc/oncoboard/config.toml
old=$work/old-data; mkdir -p "$old"
.venv/bin/python - "$old" <<'PY'
import sys
from oncoboard.store import open_store
from oncoboard.store.db import discover_migrations
s = open_store(sys.argv[1], migrate=False); s.migrate(discover_migrations()[:1]); s.close()
PY
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold "./$deb2" >/dev/null
dpkg-query -W -f='${Version}' oncoboard | grep -qx "$version.1" || fail "upgrade did not install"
grep -q '^language = "fr"' /etc/oncoboard/config.toml || fail "upgrade overwrote the site configuration"
patients_after=$(run patients list --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
[[ $patients_after == "$patients_before" ]] || fail "patients before upgrade $patients_before, after $patients_after"
run audit verify >/dev/null || fail "audit trail broken after upgrade"
ONCOBOARD_HOME=$old run patients list --json >/dev/null || fail "old database not usable"
ONCOBOARD_HOME=$old run doctor --json | python3 -c "
import json,sys; c={x['name']:x for x in json.load(sys.stdin)}['database']['data']
assert c['schema']==c['expected_schema'], c" || fail "old database not migrated"
run doctor || fail "doctor after upgrade"

step "remove keeps user data"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq oncoboard >/dev/null
[[ ! -e /opt/oncoboard/oncoboard ]] || fail "/opt/oncoboard still there"
[[ -f $ONCOBOARD_HOME/oncoboard.db ]] || fail "user data removed"
[[ -f /etc/oncoboard/config.toml ]] || fail "site configuration removed without purge"
dpkg --purge oncoboard >/dev/null
[[ ! -e /etc/oncoboard/config.toml ]] || fail "purge left /etc/oncoboard"
echo "test-package: all packaging checks passed"
