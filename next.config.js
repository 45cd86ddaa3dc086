/** @type {import('next').NextConfig} */
const nextConfig = {
  // The API is served by server/main.ts; Next.js renders pages (the admin dashboard).
  poweredByHeader: false,
  reactStrictMode: true,
  // Packages with native or WASM parts load at run time from node_modules instead of being bundled.
  serverExternalPackages: [
    "@electric-sql/pglite",
    "pglite-prisma-adapter",
    "ioredis",
    "pg",
    "@prisma/adapter-pg",
    "tinypool",
  ],
};

export default nextConfig;
