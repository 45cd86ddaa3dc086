// Prisma 7 reads its datasource from here. Only `prisma generate` is used in this project's scripts;
// the URL matters to `prisma migrate status` for users who have Prisma's schema-engine binary.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost:5432/statehouse" },
});
