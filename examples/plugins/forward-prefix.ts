/**
 * A complete external ferry plugin: a new rule type and a new outbound type.
 *
 *   DOMAIN-PREFIX,<prefix>  matches hosts that start with <prefix> (e.g. `DOMAIN-PREFIX,api.`)
 *   type: forward           sends every connection to one fixed `to: host:port`, whatever its
 *                           destination (port-forwarding through the rules)
 *
 * Put this file in ~/.config/ferry/plugins/ (or pass --plugins-dir) and use it in a config:
 *
 *   proxies:
 *     - { name: to-local, type: forward, to: "127.0.0.1:8080" }
 *   rules:
 *     - DOMAIN-PREFIX,dev.,to-local
 *     - MATCH,DIRECT
 *
 * It imports only "ferry:sdk", which the host provides (also inside the compiled binary).
 */
import { API_VERSION, definePlugin, t } from "ferry:sdk";

export default definePlugin({
  name: "example-forward-prefix",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("DOMAIN-PREFIX", {
      // Validated before parse(): a config error names the rule line and this reason.
      payload: t.String({ minLength: 1, pattern: "^[a-z0-9.-]+$" }),
      parse(payload) {
        const prefix = payload.toLowerCase();
        return {
          type: "DomainPrefix",
          payload: prefix,
          needsIp: false,
          match: (metadata) => metadata.host.startsWith(prefix),
        };
      },
    });

    host.registerOutbound("forward", {
      // The options of `type: forward` proxies; ferry validates them and reports `proxies[N].to: …`.
      options: t.Object({
        to: t.String({ pattern: "^[^:]+:[0-9]{1,5}$", description: "host:port every connection goes to" }),
      }),
      create(options, ctx) {
        const colon = options.to.lastIndexOf(":");
        const target = options.to.slice(0, colon);
        const port = Number(options.to.slice(colon + 1));
        return {
          name: options.name,
          type: "Forward",
          supportsUdp: false,
          addr: options.to,
          dialTcp(metadata, dial) {
            ctx.log.debug(`forwarding ${metadata.host || metadata.destinationIP} to ${options.to}`);
            return ctx.dialDirect(target, port, dial);
          },
        };
      },
    });
  },
});
