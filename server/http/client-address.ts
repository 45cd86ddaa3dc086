import { BlockList, isIPv4, isIPv6 } from "node:net";

/** What an address is counted as when the request carries no socket and no proxy we trust says who sent it. */
export const UNKNOWN_ADDRESS = "unknown";

/**
 * Who is calling, for throttling failed authentications: the socket's peer, unless that peer is a proxy
 * named in STATEHOUSE_TRUST_PROXY, in which case X-Forwarded-For is walked from the right (the entry the
 * nearest proxy wrote) past every trusted proxy to the first address we do not trust. Entries left of
 * that one were written by the client and are ignored, so a client cannot pick its own address.
 *
 * IPv6 addresses are counted per /64: one subscriber usually holds a whole /64 and could otherwise
 * rotate through 2^64 addresses, each with a fresh failure budget.
 */
export class ClientAddresses {
  private readonly trusted: BlockList | undefined;

  /** `spec`: comma-separated addresses and CIDR ranges (IPv4 or IPv6), or `loopback`; unset trusts none. */
  constructor(spec?: string) {
    const entries = parseTrustProxy(spec);
    if (entries.length === 0) return;
    const list = new BlockList();
    for (const e of entries) {
      if (e.prefix === undefined) list.addAddress(e.address, e.family);
      else list.addSubnet(e.address, e.prefix, e.family);
    }
    this.trusted = list;
  }

  get trustsProxies(): boolean {
    return this.trusted !== undefined;
  }

  /**
   * The address to count failures against. `peer` is the socket's remote address (undefined when
   * mounted inside Next.js, which gives route handlers no socket: then only X-Forwarded-For from a
   * trusted proxy in front can name the client, and without that setting every caller is one address).
   */
  resolve(peer: string | undefined, forwardedFor: string | null | undefined): string {
    const socket = peer === undefined ? undefined : normalize(peer);
    if (!this.trusted) return socket === undefined ? UNKNOWN_ADDRESS : bucket(socket);
    if (socket !== undefined && !this.isTrusted(socket)) return bucket(socket);
    // The peer is a trusted proxy (or, without a socket, assumed to be the proxy the operator named).
    let client = socket;
    const hops = forwardedFor ? forwardedFor.split(",") : [];
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalize(stripPort(hops[i]!.trim()));
      if (hop === undefined) break; // not an address: stop at the last hop we could read
      client = hop;
      if (!this.isTrusted(hop)) break;
    }
    return client === undefined ? UNKNOWN_ADDRESS : bucket(client);
  }

  /** Whether a socket peer is one of the trusted proxies. */
  isTrustedPeer(peer: string): boolean {
    const address = normalize(peer);
    return this.trusted !== undefined && address !== undefined && this.isTrusted(address);
  }

  private isTrusted(address: string): boolean {
    return this.trusted!.check(address, isIPv4(address) ? "ipv4" : "ipv6");
  }
}

interface TrustEntry {
  address: string;
  prefix?: number;
  family: "ipv4" | "ipv6";
}

/** Parses STATEHOUSE_TRUST_PROXY; throws naming the first entry that is not an address or CIDR range. */
export function parseTrustProxy(spec: string | undefined): TrustEntry[] {
  const out: TrustEntry[] = [];
  for (const raw of (spec ?? "").split(",")) {
    const item = raw.trim();
    if (!item) continue;
    if (item === "loopback") {
      out.push({ address: "127.0.0.0", prefix: 8, family: "ipv4" }, { address: "::1", family: "ipv6" });
      continue;
    }
    const [address = "", prefixText] = item.split("/");
    const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined;
    const max = family === "ipv4" ? 32 : 128;
    const prefix = prefixText === undefined ? undefined : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!family || (prefix !== undefined && !(prefix >= 0 && prefix <= max))) {
      throw new Error(`'${item}' is not an IP address, a CIDR range or 'loopback'`);
    }
    out.push({ address, prefix, family });
  }
  return out;
}

/** A valid IP address in one spelling (IPv4-mapped IPv6 as IPv4), or undefined. */
function normalize(address: string): string | undefined {
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return undefined;
  const lower = address.toLowerCase();
  if (lower.startsWith("::ffff:") && isIPv4(lower.slice(7))) return lower.slice(7);
  return lower;
}

/** "1.2.3.4:5678" and "[2001:db8::1]:443" as proxies sometimes write them, without the port. */
function stripPort(hop: string): string {
  if (hop.startsWith("[")) return hop.slice(1, hop.indexOf("]") >>> 0);
  const colon = hop.indexOf(":");
  return colon > 0 && colon === hop.lastIndexOf(":") ? hop.slice(0, colon) : hop;
}

/** IPv4 as is; IPv6 as its /64. */
function bucket(address: string): string {
  return isIPv4(address) ? address : `${ipv6Groups(address).slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, in lowercase hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  const plain = address.split("%")[0]!;
  const part = (s: string) => (s ? s.split(":") : []).flatMap((g) => (isIPv4(g) ? v4Groups(g) : [g]));
  const [left, right] = plain.includes("::") ? plain.split("::") : [plain, undefined];
  const head = part(left!);
  const tail = right === undefined ? [] : part(right);
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
  return groups.map((g) => parseInt(g, 16).toString(16));
}

function v4Groups(v4: string): string[] {
  const [a, b, c, d] = v4.split(".").map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
