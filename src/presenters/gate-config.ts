import type { System } from "../types/catalog.ts";

/** Configuration a proxy needs to put one system behind the gate, filled in for it (the README's "The gate"). */
export interface GateConfigurations {
  nginx: string;
  caddy: string;
  traefik: string;
}

/**
 * The system's web address is what people open; its host is where the proxy passes requests on (over the same
 * scheme). `consoleUrl` is Gatehouse's own address (BASE_URL), which the proxy asks and sends people to.
 */
export function gateConfigurations(system: System, consoleUrl: string): GateConfigurations | null {
  if (!system.webAddress) return null;
  const site = new URL(system.webAddress);
  const upstream = `${site.protocol}//${system.host}`;
  const headers = ["Remote-User", "Remote-Name", "Remote-Email", "Remote-Groups", "Remote-Permission", "X-Gatehouse-Jwt"];
  const nginx = [
    `# In the server block of ${site.host}`,
    "location /.gatehouse/ {",
    `  proxy_pass ${consoleUrl};`,
    "  proxy_set_header Host $http_host;",
    "  proxy_set_header X-Forwarded-Proto $scheme;",
    "  proxy_set_header X-Original-URL $scheme://$http_host$request_uri;",
    "}",
    "location = /gatehouse-auth {",
    "  internal;",
    `  proxy_pass ${consoleUrl}/gate/auth-request;`,
    "  proxy_pass_request_body off;",
    '  proxy_set_header Content-Length "";',
    "  proxy_set_header X-Original-URL $scheme://$http_host$request_uri;",
    "  proxy_set_header X-Original-Method $request_method;",
    // nginx drops Upgrade (hop-by-hop) unless told: without it a WebSocket would be judged as a plain GET.
    "  proxy_set_header Upgrade $http_upgrade;",
    "}",
    `location @gatehouse_sign_in { return 302 ${consoleUrl}/gate/start?rd=$scheme://$http_host$request_uri; }`,
    "location / {",
    "  auth_request /gatehouse-auth;",
    "  error_page 401 = @gatehouse_sign_in;",
    "  error_page 403 = /.gatehouse/denied;",
    ...headers.flatMap((name) => {
      const variable = `$gh_${name.replace(/^(Remote|X-Gatehouse)-/, "").toLowerCase()}`;
      return [`  auth_request_set ${variable} $upstream_http_${name.toLowerCase().replaceAll("-", "_")};`, `  proxy_set_header ${name} ${variable};`];
    }),
    "  proxy_http_version 1.1;",
    "  proxy_set_header Upgrade $http_upgrade;",
    "  proxy_set_header Connection $http_connection;",
    `  proxy_pass ${upstream};`,
    "}",
  ].join("\n");
  const consoleHost = new URL(consoleUrl).host;
  const caddy = [
    `${site.origin} {`,
    "  handle /.gatehouse/* {",
    `    reverse_proxy ${consoleUrl} { header_up Host {host} }`,
    "  }",
    "  handle {",
    `    forward_auth ${consoleUrl} {`,
    "      uri /gate/forward-auth",
    `      copy_headers ${headers.join(" ")}`,
    "    }",
    `    reverse_proxy ${upstream}`,
    "  }",
    "}",
  ].join("\n");
  const name = `gatehouse-${system.id}`;
  const traefik = [
    "http:",
    "  middlewares:",
    "    gatehouse:",
    "      forwardAuth:",
    `        address: "${consoleUrl}/gate/forward-auth"`,
    `        authResponseHeaders: [${headers.join(", ")}]`,
    "  routers:",
    `    ${name}-handshake:`,
    `      rule: "Host(\`${site.hostname}\`) && PathPrefix(\`/.gatehouse/\`)"`,
    "      service: gatehouse",
    `    ${name}:`,
    `      rule: "Host(\`${site.hostname}\`)"`,
    "      middlewares: [gatehouse]",
    `      service: ${name}`,
    "  services:",
    "    gatehouse:",
    `      loadBalancer: { passHostHeader: true, servers: [{ url: "${consoleUrl}" }] }  # ${consoleHost}`,
    `    ${name}:`,
    `      loadBalancer: { servers: [{ url: "${upstream}" }] }`,
  ].join("\n");
  return { nginx, caddy, traefik };
}
