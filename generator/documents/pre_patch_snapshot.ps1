# Pre-patch snapshot of a Windows instance: read-only, prints what a reviewer needs to compare after patching.
$ErrorActionPreference = 'Continue'
function Section($name) { "`n== $name" }
Section 'host'; $env:COMPUTERNAME
Section 'os'
Get-CimInstance Win32_OperatingSystem | Format-List Caption, Version, BuildNumber, LastBootUpTime
Section 'hotfixes'
Get-HotFix | Sort-Object HotFixID | Format-Table -AutoSize HotFixID, InstalledOn, Description
Section 'running-services'
Get-Service | Where-Object Status -eq 'Running' | Sort-Object Name | Format-Table -AutoSize Name, DisplayName
Section 'disk'
Get-PSDrive -PSProvider FileSystem | Format-Table -AutoSize Name, Used, Free
Section 'reboot-required'
Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
