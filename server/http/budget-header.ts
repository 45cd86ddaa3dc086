// The `Statehouse-Budget` response header: how much of its size limit and rolling windows a record uses.
import type { NamespacePolicy } from "../state/namespaces";
import { windowBudget } from "../state/windows";

/** `Statehouse-Budget` header value: size=used/max, then per window items and bytes. */
export function budgetHeader(policy: NamespacePolicy, sizeBytes: number, value: unknown): string {
  const parts = [`size=${sizeBytes}/${policy.maxBytes.fail}`];
  for (const b of windowBudget(policy, value)) {
    parts.push(`${b.field}.items=${b.items.used}/${b.items.max}`);
    if (b.bytes.max !== null) parts.push(`${b.field}.bytes=${b.bytes.used}/${b.bytes.max}`);
  }
  return parts.join(", ");
}
