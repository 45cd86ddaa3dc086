-- Per-tenant policies set by admins: daily operations and stored-bytes quotas, and a region pin.
CREATE TABLE "tenant_policies" (
    "tenant" TEXT NOT NULL,
    "max_operations_per_day" INTEGER,
    "max_bytes_stored" BIGINT,
    "region" TEXT,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tenant_policies_pkey" PRIMARY KEY ("tenant")
);

-- Each region label under which a tenant's state was written (first and last write), for residency answers.
CREATE TABLE "tenant_regions" (
    "tenant" TEXT NOT NULL,
    "region" TEXT NOT NULL,
    "first_write_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_write_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tenant_regions_pkey" PRIMARY KEY ("tenant","region")
);

-- Writes refused because the tenant is pinned to another region. No values, only where and who.
CREATE TABLE "residency_audit" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "tenant" TEXT NOT NULL,
    "tenant_region" TEXT NOT NULL,
    "server_region" TEXT NOT NULL,
    "operation" TEXT NOT NULL,
    "namespace" TEXT,
    "key" TEXT,
    "actor" TEXT,

    CONSTRAINT "residency_audit_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "residency_audit_tenant_idx" ON "residency_audit"("tenant", "id");
