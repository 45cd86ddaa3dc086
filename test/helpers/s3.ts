import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import type { S3BlobOptions } from "../../server/state/blob-s3";
import { uniqueName } from "./services";

export interface TestS3 {
  /** Options for S3BlobStore.create / ArchiveStore.onS3, pointing at this server's fresh bucket. */
  options: S3BlobOptions;
  endpoint: string;
  /** A bucket that does not exist on this server. */
  missingBucket: string;
  stop(): Promise<void>;
}

/** s3rver only accepts these (and they are not secrets: the server is the test's own). */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/**
 * An S3-protocol server (s3rver) of the test's own on a free loopback port, storing under a temporary
 * directory, with one empty bucket. stop() closes it and removes the directory.
 */
export async function startS3(): Promise<TestS3> {
  const directory = await mkdtemp(path.join(tmpdir(), "sh-s3rver-"));
  const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory, resetOnClose: true });
  const address = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${address.port}`;
  const bucket = uniqueName("archive").replaceAll("_", "-");
  const admin = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  admin.destroy();
  return {
    options: { bucket, endpoint, region: "us-east-1", credentials: S3RVER_CREDENTIALS },
    endpoint,
    missingBucket: `${bucket}-missing`,
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
