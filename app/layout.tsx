import type { ReactNode } from "react";

export const metadata = {
  title: "Statehouse",
  description: "Versioned, tiered, observable state for AI agents",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", margin: 0, color: "#111" }}>{children}</body>
    </html>
  );
}
