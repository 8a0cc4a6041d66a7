#!/bin/sh
# Pre-patch snapshot of a Linux instance: read-only, prints what a reviewer needs to compare after patching.
section() { printf '\n== %s\n' "$1"; }
section host; hostname; uname -a
section os-release; cat /etc/os-release 2>/dev/null
section uptime; uptime
section packages
if command -v rpm >/dev/null 2>&1; then
  rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE}.%{ARCH}\n' | sort
elif command -v dpkg >/dev/null 2>&1; then
  dpkg -l | awk '/^ii/ {print $2, $3, $4}'
fi
section running-services
systemctl list-units --type=service --state=running --no-pager --no-legend 2>/dev/null || true
section disk; df -hP
section reboot-required
if [ -f /var/run/reboot-required ]; then echo yes
elif command -v needs-restarting >/dev/null 2>&1; then needs-restarting -r >/dev/null 2>&1 && echo no || echo yes
else echo unknown
fi
