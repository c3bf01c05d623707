import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { ValidationError } from "../errors.js";

/**
 * Where a hook may send (docs/events.md, "Targets"). A hook's URL is the user's, so it must not
 * reach what only the control plane can: loopback, private networks, link-local addresses (the
 * cloud's instance metadata at 169.254.169.254), carrier-grade NAT, multicast and reserved ranges,
 * in IPv4, IPv6 and IPv4 mapped into IPv6. The check runs on the addresses the connection is
 * actually made to (`guardedLookup`), so a name that resolves elsewhere at delivery time than
 * when the hook was created (DNS rebinding) is refused too. The operator setting
 * `DROVER_HOOK_ALLOW_PRIVATE_TARGETS=true` lifts the rule (a local runtime, tests on loopback).
 */
const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  BLOCKED.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const)
  BLOCKED.addSubnet(net, prefix, "ipv6");

/** Whether an address is one a hook may not reach (IPv4-mapped IPv6 is judged as its IPv4). */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1]) return BLOCKED.check(mapped[1], "ipv4");
  const family = isIP(bare);
  if (family === 4) return BLOCKED.check(bare, "ipv4");
  if (family === 6) {
    // ::ffff:a.b.c.d written in hex (::ffff:7f00:1).
    const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(bare);
    if (hexMapped?.[1] && hexMapped[2]) {
      const hi = Number.parseInt(hexMapped[1], 16);
      const lo = Number.parseInt(hexMapped[2], 16);
      return BLOCKED.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, "ipv4");
    }
    return BLOCKED.check(bare, "ipv6");
  }
  return true;
}

export const MAX_URL_LENGTH = 2048;

/** A hook URL's shape: http(s), a host, no credentials, bounded. Throws VALIDATION_ERROR. */
export function parseTargetUrl(raw: unknown, field = "config.url"): URL {
  if (typeof raw !== "string" || raw.trim() === "") throw new ValidationError(`${field} must be a URL`);
  if (raw.length > MAX_URL_LENGTH)
    throw new ValidationError(`${field} is at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ValidationError(`${field} is not a valid URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new ValidationError(`${field} must be an http or https URL`);
  if (url.username || url.password) throw new ValidationError(`${field} must not carry credentials`);
  if (!url.hostname) throw new ValidationError(`${field} has no host`);
  return url;
}

export class TargetRefusedError extends ValidationError {}

const refusal = (host: string, address: string) =>
  new TargetRefusedError(
    `config.url resolves to ${address}, a private, loopback or link-local address; hooks may only call public addresses (an operator can allow private ones with DROVER_HOOK_ALLOW_PRIVATE_TARGETS=true)${host === address ? "" : ` (host ${host})`}`,
  );

/** Resolves a URL's host and refuses it when any address is private (unless allowed). */
export async function checkTarget(url: URL, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host)) {
    if (isPrivateAddress(host)) throw refusal(host, host);
    return;
  }
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true }, (error, found) => (error ? reject(error) : resolve(found))),
  ).catch(() => {
    throw new ValidationError(`config.url: the host ${host} could not be resolved`);
  });
  const bad = addresses.find((a) => isPrivateAddress(a.address));
  if (bad) throw refusal(host, bad.address);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for node:http(s) that refuses private addresses at connection time (unless allowed),
 * so what was checked is what is connected to.
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const bad = allowPrivate ? undefined : addresses.find((a) => isPrivateAddress(a.address));
      if (bad) return callback(refusal(hostname, bad.address) as unknown as NodeJS.ErrnoException, []);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`no address for ${hostname}`) as NodeJS.ErrnoException, []);
      callback(null, first.address, first.family);
    });
  };
}
