import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { gateConfigurations } from "../../src/presenters/gate-config.ts";
import type { System } from "../../src/types/catalog.ts";

const nas: System = {
  id: 7,
  name: "nas1",
  host: "10.0.0.5",
  webAddress: "https://nas1.example.com",
  gateMode: "by-method",
  description: "",
  notes: "",
  version: 1,
  createdAt: new Date(0),
  updatedAt: new Date(0),
};

/** The nginx server block that the proxy tests and docker-compose run: the one proven against a real nginx. */
const template = readFileSync(new URL("../../docker/gate/nginx.conf.template", import.meta.url), "utf8");
/** What decides what the gate is asked and what the system receives (how connections are kept may differ). */
const directives = (text: string) =>
  text
    .split("\n")
    .map((line) => line.replace(/#.*$/, "").trim())
    .filter((line) => /^(internal|auth_request|auth_request_set|error_page|proxy_set_header|proxy_pass_request_body)\b/.test(line))
    .filter((line) => line !== 'proxy_set_header Connection "";');

describe("the nginx configuration on a system's page", () => {
  const nginx = gateConfigurations(nas, "https://gatehouse.example.com")?.nginx ?? "";

  it("sets every header the tested configuration sets: the original address and method, Upgrade for a WebSocket, all five Remote-* answers and X-Gatehouse-Jwt", () => {
    const shown = new Set(directives(nginx));
    const missing = directives(template).filter((line) => !shown.has(line));
    expect(missing).toEqual([]);
    expect(nginx).toContain("proxy_set_header Upgrade $http_upgrade;");
    expect(nginx).toContain("auth_request_set $gh_jwt $upstream_http_x_gatehouse_jwt;");
    expect(nginx).toContain("proxy_set_header X-Gatehouse-Jwt $gh_jwt;");
  });

  it("Caddy and Traefik copy the same six answers onto the request, X-Gatehouse-Jwt among them", () => {
    const shown = gateConfigurations(nas, "https://gatehouse.example.com");
    expect(shown?.caddy).toContain("copy_headers Remote-User Remote-Name Remote-Email Remote-Groups Remote-Permission X-Gatehouse-Jwt");
    expect(shown?.traefik).toContain("authResponseHeaders: [Remote-User, Remote-Name, Remote-Email, Remote-Groups, Remote-Permission, X-Gatehouse-Jwt]");
  });

  it("asks Gatehouse and sends people to its sign-in, and passes on to the system's host", () => {
    expect(nginx).toContain("proxy_pass https://gatehouse.example.com/gate/auth-request;");
    expect(nginx).toContain("return 302 https://gatehouse.example.com/gate/start?rd=$scheme://$http_host$request_uri;");
    expect(nginx).toContain("proxy_pass https://10.0.0.5;");
  });

  it("is not offered for a system without a web address", () => {
    expect(gateConfigurations({ ...nas, webAddress: null }, "https://gatehouse.example.com")).toBeNull();
  });
});
