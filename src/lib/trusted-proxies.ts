import { BlockList, isIPv4, isIPv6 } from "node:net";

/** Loopback: where a reverse proxy on the same machine speaks from, and all the gate trusts unless told otherwise. */
export const LOOPBACK_PROXIES = ["127.0.0.0/8", "::1"];

/** The addresses (and CIDR ranges) a list names, or the entries that are neither, for a clear configuration error. */
export function parseProxyList(text: string): { entries: string[]; invalid: string[] } {
  const entries = text
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  const invalid = entries.filter((entry) => {
    const [address = "", bits, extra] = entry.split("/");
    if (extra !== undefined) return true;
    const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
    if (family === 0) return true;
    if (bits === undefined) return false;
    return !/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128);
  });
  return { entries, invalid };
}

/** Answers whether a peer address (in the canonical form of src/lib/client-address.ts) is one of the proxies. */
export function proxyMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", bits] = entry.split("/");
    const type = isIPv4(address) ? "ipv4" : "ipv6";
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    if (!address) return false;
    const type = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined;
    return type !== undefined && list.check(address, type);
  };
}
