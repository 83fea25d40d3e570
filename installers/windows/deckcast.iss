; Deckcast for OBS Studio on Windows (Inno Setup 6).
;
; Build (on Windows, after `cmake -S cmake -B build -DDECKCAST_LAYOUT=windows` and
; `cmake --install build --prefix build\stage`):
;   iscc /DAppVersion=<version from Cargo.toml> /DStageDir=build\stage installers\windows\deckcast.iss
;
; Installs OBS's documented machine-wide plugin layout (OBS 30+ loads it):
;   C:\ProgramData\obs-studio\plugins\deckcast\bin\64bit\deckcast.dll
;   C:\ProgramData\obs-studio\plugins\deckcast\data\...
; and the companion to {app}\deckcast.exe. The uninstaller removes exactly these files; the
; companion's history and the stream keys in Windows Credential Manager are user data and stay.

#ifndef AppVersion
  #error Pass /DAppVersion=<x.y.z> (the version in Cargo.toml)
#endif
#ifndef StageDir
  #define StageDir "..\..\build\stage"
#endif

[Setup]
AppId={{6F0C7A51-3B0E-4C1B-9A8D-5E2D7C4B9D10}
AppName=Deckcast for OBS Studio
AppVersion={#AppVersion}
AppPublisher=Deckcast developers
AppPublisherURL=https://github.com/deckcast/deckcast
DefaultDirName={autopf}\Deckcast
DefaultGroupName=Deckcast
DisableProgramGroupPage=yes
LicenseFile=..\..\LICENSE
OutputBaseFilename=deckcast-{#AppVersion}-windows-x64
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=admin
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Files]
Source: "{#StageDir}\deckcast\bin\64bit\deckcast.dll"; DestDir: "{commonappdata}\obs-studio\plugins\deckcast\bin\64bit"; Flags: ignoreversion
Source: "{#StageDir}\deckcast\data\*"; DestDir: "{commonappdata}\obs-studio\plugins\deckcast\data"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "{#StageDir}\bin\deckcast.exe"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{group}\Deckcast dashboard"; Filename: "http://127.0.0.1:8750/"
Name: "{group}\Uninstall Deckcast"; Filename: "{uninstallexe}"

[UninstallDelete]
Type: dirifempty; Name: "{commonappdata}\obs-studio\plugins\deckcast\data"
Type: dirifempty; Name: "{commonappdata}\obs-studio\plugins\deckcast\bin\64bit"
Type: dirifempty; Name: "{commonappdata}\obs-studio\plugins\deckcast\bin"
Type: dirifempty; Name: "{commonappdata}\obs-studio\plugins\deckcast"
