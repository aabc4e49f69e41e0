; Inno Setup recipe for Oncoboard on Windows (built on a Windows machine, not in CI here).
;   1. powershell -File packaging\windows\build-windows.ps1 [-Gpu]
;      (creates a venv, installs Oncoboard, runs PyInstaller with packaging\pyinstaller\oncoboard.spec)
;   2. iscc /DVariant=cpu packaging\windows\oncoboard.iss      (or /DVariant=gpu)
; Silent install for IT:   Oncoboard-Setup-0.1.0.exe /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /LOG=C:\Temp\oncoboard-install.log
; Site configuration:      /CONFIG=\\server\share\oncoboard\config.toml  (copied to %ProgramData%\Oncoboard\config.toml)
; Silent uninstall:        "%ProgramFiles%\Oncoboard\unins000.exe" /VERYSILENT  (user data in %LOCALAPPDATA%\oncoboard is kept)

#ifndef Variant
  #define Variant "cpu"
#endif
#if Variant == "gpu"
  #define BundleName "oncoboard-gpu"
  #define AppSuffix " (GPU)"
#else
  #define BundleName "oncoboard"
  #define AppSuffix ""
#endif
#define AppVersion "0.1.0"

[Setup]
AppId={{6F0B6A57-2C1D-4E7A-9B52-0C7C1D0B7A11}
AppName=Oncoboard{#AppSuffix}
AppVersion={#AppVersion}
AppPublisher=Oncoboard
DefaultDirName={autopf}\Oncoboard
DefaultGroupName=Oncoboard
DisableProgramGroupPage=yes
OutputBaseFilename=Oncoboard-Setup-{#AppVersion}{#AppSuffix}
OutputDir=..\..\build
Compression=lzma2/ultra64
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=admin
UninstallDisplayIcon={app}\oncoboard.exe

[Files]
Source: "..\..\build\dist\{#BundleName}\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion
Source: "..\site\config.toml"; DestDir: "{commonappdata}\Oncoboard"; Flags: onlyifdoesntexist uninsneveruninstall
Source: "{param:CONFIG}"; DestDir: "{commonappdata}\Oncoboard"; DestName: "config.toml"; Flags: external skipifsourcedoesntexist

[Registry]
; Oncoboard reads its site file from ONCOBOARD_SITE_CONFIG (see app/oncoboard/config.py).
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: string; ValueName: "ONCOBOARD_SITE_CONFIG"; ValueData: "{commonappdata}\Oncoboard\config.toml"; Flags: uninsdeletevalue

[Icons]
Name: "{group}\Oncoboard{#AppSuffix}"; Filename: "{app}\oncoboard.exe"; Parameters: "gui"
Name: "{group}\Oncoboard doctor"; Filename: "{cmd}"; Parameters: "/k ""{app}\oncoboard.exe"" doctor"

[Run]
Filename: "{app}\oncoboard.exe"; Parameters: "doctor"; Flags: runhidden waituntilterminated; StatusMsg: "Checking the installation..."
