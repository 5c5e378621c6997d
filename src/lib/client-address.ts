import { isIPv4 } from "node:net";
import express, { type Express } from "express";

const MAPPED_PREFIX = "::ffff:";

/**
 * One spelling per client address. A server listening on both IPv4 and IPv6 sees an IPv4 client as the
 * IPv4-mapped IPv6 address `::ffff:a.b.c.d`; stored that way, a person would read two addresses where there is
 * one, and the per-address sign-in throttle would keep two counters for one client. IPv6 addresses are otherwise
 * kept as Node gives them (already in their compressed, lower-case form).
 */
export function canonicalAddress(address: string): string;
export function canonicalAddress(address: string | undefined): string | undefined;
export function canonicalAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  if (address.length > MAPPED_PREFIX.length && address.slice(0, MAPPED_PREFIX.length).toLowerCase() === MAPPED_PREFIX) {
    const inner = address.slice(MAPPED_PREFIX.length);
    if (isIPv4(inner)) return inner;
  }
  return address;
}

/**
 * Makes `req.ip` and `req.ips` of this app answer canonical addresses, whatever the trust-proxy setting: every
 * reader (sessions, the audit trail, throttles, logs, downloads) gets the one form without having to remember it.
 * Done on the app's request prototype, once, rather than by a middleware on every request.
 */
export function canonicaliseClientAddresses(app: Express): void {
  const ip = Object.getOwnPropertyDescriptor(express.request, "ip")?.get;
  const ips = Object.getOwnPropertyDescriptor(express.request, "ips")?.get;
  if (!ip || !ips) throw new Error("express.request has no ip/ips getters to wrap");
  Object.defineProperty(app.request, "ip", {
    configurable: true,
    enumerable: true,
    get(this: express.Request) {
      return canonicalAddress(ip.call(this) as string | undefined);
    },
  });
  Object.defineProperty(app.request, "ips", {
    configurable: true,
    enumerable: true,
    get(this: express.Request) {
      return (ips.call(this) as string[]).map((address) => canonicalAddress(address));
    },
  });
}
