/** The config `ferry run` uses when there is no config file: a mixed proxy on loopback, everything DIRECT. */
export const DEFAULT_CONFIG = `# ferry's embedded default config
mixed-port: 7890
allow-lan: false
mode: rule
log-level: info
external-controller: 127.0.0.1:9090
rules:
  - MATCH,DIRECT
`;
