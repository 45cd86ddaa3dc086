"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

// The third field: the page covers every tenant (platform admins only).
const LINKS = [
  ["/admin", "Overview", false],
  ["/admin/namespaces", "Namespaces", false],
  ["/admin/state", "State", false],
  ["/admin/alerts", "Alerts", true],
  ["/admin/outbox", "Outbox", false],
  ["/admin/agents", "Agents", false],
  ["/admin/memories", "Memories", false],
  ["/admin/workflows", "Workflows", false],
  ["/admin/keys", "API keys", false],
  ["/admin/quotas", "Quotas", false],
] as const;

export function Nav({ platformAdmin }: { platformAdmin: boolean }) {
  const path = usePathname();
  return (
    <nav aria-label="Admin">
      <ul>
        {LINKS.filter(([, , platform]) => platformAdmin || !platform).map(([href, label]) => (
          <li key={href}>
            <Link href={href} aria-current={path === href ? "page" : undefined}>
              {label}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
