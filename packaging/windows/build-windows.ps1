# Build the Windows bundle (PyInstaller one-folder) and the Inno Setup installer.
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build-windows.ps1 [-Gpu]
# Needs Python 3.11+ and Inno Setup 6 (iscc.exe on PATH). Works offline with a local wheelhouse:
#   $env:PIP_NO_INDEX=1; $env:PIP_FIND_LINKS="\\server\wheels"
param([switch]$Gpu)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$variant = if ($Gpu) { "gpu" } else { "cpu" }
$venv = if ($Gpu) { ".venv-gpu" } else { ".venv" }
$name = if ($Gpu) { "oncoboard-gpu" } else { "oncoboard" }
if (-not (Test-Path "$venv\Scripts\python.exe")) { python -m venv $venv }
# The lock files in requirements\ are for Linux x86_64: here pip resolves from pyproject.toml.
& "$venv\Scripts\python.exe" -m pip install -q -e ".[bundle]"
if ($Gpu) {
  & "$venv\Scripts\python.exe" -m pip uninstall -q -y onnxruntime
  & "$venv\Scripts\python.exe" -m pip install -q --no-deps "onnxruntime-gpu>=1.20"
}
& "$venv\Scripts\python.exe" packaging\licenses.py check  # no copyleft licence in the runtime closure
if ($LASTEXITCODE -ne 0) { throw "licence check failed" }
$env:ONCOBOARD_BUNDLE_NAME = $name
& "$venv\Scripts\pyinstaller.exe" --noconfirm --distpath build\dist --workpath "build\work-$name" packaging\pyinstaller\oncoboard.spec
& "$venv\Scripts\python.exe" packaging\licenses.py notice "build\dist\$name\THIRD_PARTY_LICENSES"
& "build\dist\$name\oncoboard.exe" --version
iscc "/DVariant=$variant" packaging\windows\oncoboard.iss
