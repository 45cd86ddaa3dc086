"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

const LINKS = [
  ["/admin", "Overview"],
  ["/admin/namespaces", "Namespaces"],
  ["/admin/state", "State"],
  ["/admin/alerts", "Alerts"],
  ["/admin/outbox", "Outbox"],
  ["/admin/workflows", "Workflows"],
  ["/admin/keys", "API keys"],
  ["/admin/quotas", "Quotas"],
] as const;

export function Nav() {
  const path = usePathname();
  return (
    <nav aria-label="Admin">
      <ul>
        {LINKS.map(([href, label]) => (
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
