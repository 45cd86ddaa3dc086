"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

const LINKS = [
  ["/admin", "Overview"],
  ["/admin/namespaces", "Namespaces"],
  ["/admin/state", "State"],
  ["/admin/alerts", "Alerts"],
  ["/admin/outbox", "Outbox"],
  ["/admin/keys", "API keys"],
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
