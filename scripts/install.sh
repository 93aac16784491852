#!/bin/sh
# Install a compiled ferry as a systemd service: sudo scripts/install.sh [path/to/ferry]
# The service runs as the unprivileged "ferry" user; the two capabilities let it open a TUN
# device and bind ports below 1024 without root. Config and state live in /etc/ferry.
set -eu

binary="${1:-dist/ferry}"
[ -x "$binary" ] || { echo "no executable at $binary (run npm run build first)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }

install -m 0755 "$binary" /usr/local/bin/ferry
id ferry >/dev/null 2>&1 || useradd --system --home-dir /etc/ferry --shell /usr/sbin/nologin ferry
install -d -m 0750 -o ferry -g ferry /etc/ferry

cat > /etc/systemd/system/ferry.service <<'UNIT'
[Unit]
Description=ferry proxy
After=network-online.target
Wants=network-online.target

[Service]
User=ferry
Group=ferry
ExecStart=/usr/local/bin/ferry run -d /etc/ferry
ExecReload=/bin/kill -HUP $MAINPID
AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE
NoNewPrivileges=true
Restart=on-failure
RestartSec=3
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable --now ferry
echo "ferry installed: config in /etc/ferry/config.yaml, logs with journalctl -u ferry"
