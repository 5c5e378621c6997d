import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function validPort(port: string): boolean {
  return /^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}

function validName(name: string): boolean {
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  return bare.length > 0 && bare.length <= 253 && bare.split(".").every((label) => DNS_LABEL.test(label));
}

/** A system's address: a DNS name, an IPv4 or an IPv6 address (in brackets when a port follows), with an optional port. */
export function isValidHost(value: string): boolean {
  if (value.startsWith("[")) {
    const match = /^\[([^\]]+)\](?::(.+))?$/.exec(value);
    return Boolean(match?.[1] && isIPv6(match[1]) && (match[2] === undefined || validPort(match[2])));
  }
  if (isIPv6(value)) return true;
  const colon = value.lastIndexOf(":");
  const [address, port] = colon === -1 ? [value, undefined] : [value.slice(0, colon), value.slice(colon + 1)];
  if (port !== undefined && !validPort(port)) return false;
  return isIPv4(address) || (!/^[0-9.]+$/.test(address) && validName(address));
}

export const hostField = z
  .string({ error: "Enter the host." })
  .transform((v) => v.trim().toLowerCase())
  .superRefine((v, ctx) => {
    if (v === "") ctx.addIssue({ code: "custom", message: "Enter the host: a DNS name or an IP address, with an optional :port." });
    else if (v.length > 300 || !isValidHost(v))
      ctx.addIssue({
        code: "custom",
        message: "Host must be a DNS name (nas1.example.com), an IPv4 address (10.0.0.5) or an IPv6 address ([fd00::5]), with an optional :port.",
      });
  });
