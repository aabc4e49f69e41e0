#!/usr/bin/env bash
# Set up Oncoboard from a source checkout on Debian/Ubuntu: system libraries Qt and VTK need,
# a virtual environment in .venv, and the locked Python packages (requirements/*.txt, exact
# versions checked against their sha256 hashes; see packaging/lock.sh).
#   bash packaging/bootstrap.sh             # the app only (requirements/app.txt)
#   bash packaging/bootstrap.sh --test      # + the test tools, Xvfb, Orthanc, PostgreSQL, an MIT
#                                           #   Kerberos KDC and client (test.txt)
#   bash packaging/bootstrap.sh --models    # + the model-training and benchmark stacks (models.txt)
# Safe to run again: it installs only what is missing (a larger set already installed is kept).
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0 lock=app
case "${1:-}" in
  --test) want_test=1 lock=test ;;
  --models) want_test=1 lock=models ;;
  "") ;;
  *) echo "bootstrap: unknown option $1 (--test, --models)" >&2; exit 2 ;;
esac

sudo_cmd=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then sudo_cmd="sudo"; else sudo_cmd="__none__"; fi
fi

apt_pkgs=(python3-venv libegl1 libgl1 libglx-mesa0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
          libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
          libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxcb-xinerama0 libxrender1 libxi6)
if [[ $want_test -eq 1 ]]; then
  # krb5-*: the Kerberos sign-in tests start their own KDC (kdb5_util, krb5kdc, kadmin.local, kinit)
  apt_pkgs+=(xvfb xauth orthanc orthanc-dicomweb poppler-utils postgresql
             krb5-kdc krb5-admin-server krb5-user)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ "$sudo_cmd" == "__none__" ]]; then
    echo "bootstrap: please install as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing system packages: ${missing[*]}"
  # krb5-config asks for a default realm and its servers: answered beforehand (no realm of its
  # own, an existing /etc/krb5.conf kept) so that the install never waits for an answer
  if [[ " ${missing[*]} " == *" krb5-"* ]] && command -v debconf-set-selections >/dev/null; then
    printf '%s\n' "krb5-config krb5-config/read_conf boolean true" \
      "krb5-config krb5-config/add_servers boolean false" \
      "krb5-config krb5-config/default_realm string" \
      "krb5-config krb5-config/kerberos_servers string" \
      "krb5-config krb5-config/admin_server string" | $sudo_cmd debconf-set-selections
  fi
  $sudo_cmd apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Orthanc's Debian service is not wanted: the tests start their own server on 127.0.0.1.
  if [[ " ${missing[*]} " == *" orthanc "* ]] && command -v systemctl >/dev/null; then
    $sudo_cmd systemctl disable --now orthanc >/dev/null 2>&1 || true
  fi
  # Nor PostgreSQL's: the tests run initdb + pg_ctl in a temporary folder on a free port.
  if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v systemctl >/dev/null; then
    $sudo_cmd systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
  # Nor the KDC's and kadmind's (no realm here): the tests start a KDC in a temporary folder.
  if [[ " ${missing[*]} " == *" krb5-kdc "* ]] && command -v systemctl >/dev/null; then
    $sudo_cmd systemctl disable --now krb5-kdc krb5-admin-server >/dev/null 2>&1 || true
  fi
fi

py=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$py" -m venv .venv
fi
# The stamp holds the lock installed last: app < test < models (each includes the one before).
stamp=.venv/.oncoboard-installed
rank() { case "$1" in app) echo 1 ;; test) echo 2 ;; models) echo 3 ;; *) echo 0 ;; esac; }
have=$(cat "$stamp" 2>/dev/null || true)
[[ $(rank "$have") -gt $(rank "$lock") ]] && lock=$have
if [[ ! -f $stamp || $(rank "$have") -lt $(rank "$lock") || pyproject.toml -nt $stamp
      || requirements/$lock.txt -nt $stamp ]]; then
  echo "bootstrap: installing Python packages into .venv from requirements/$lock.txt (first time: about a minute)"
  start=$SECONDS
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements/pip.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "requirements/$lock.txt"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  echo "$lock" > "$stamp"
  echo "bootstrap: installed in $((SECONDS - start)) s; .venv is $(du -sh .venv | cut -f1)"
fi
echo "bootstrap: ready ($(.venv/bin/oncoboard --version))"
