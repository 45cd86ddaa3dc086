import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import type { Config } from "../config";
import type { BlobStore } from "./blob";

/** Where and how to reach the bucket; the names follow the standard AWS variables. */
export interface S3BlobOptions {
  bucket: string;
  /** Prepended (with a `/`) to every object path, so several deployments can share a bucket. */
  prefix?: string;
  /** AWS_REGION; S3-compatible servers usually ignore it, the SDK requires one. Default us-east-1. */
  region?: string;
  /** AWS_ENDPOINT_URL: an S3-compatible server (MinIO, Ceph, s3rver...). Path-style addressing is used then. */
  endpoint?: string;
  /**
   * AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN); without them the SDK's default chain
   * (profile, instance role...) applies.
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The archive's S3 options from configuration (undefined when ARCHIVE_S3_BUCKET is unset: the filesystem archive is used). */
export function s3ArchiveOptions(
  config: Pick<
    Config,
    | "ARCHIVE_S3_BUCKET"
    | "ARCHIVE_S3_PREFIX"
    | "AWS_REGION"
    | "AWS_ENDPOINT_URL"
    | "AWS_ACCESS_KEY_ID"
    | "AWS_SECRET_ACCESS_KEY"
    | "AWS_SESSION_TOKEN"
  >,
): S3BlobOptions | undefined {
  if (!config.ARCHIVE_S3_BUCKET) return undefined;
  return {
    bucket: config.ARCHIVE_S3_BUCKET,
    prefix: config.ARCHIVE_S3_PREFIX,
    region: config.AWS_REGION,
    endpoint: config.AWS_ENDPOINT_URL,
    credentials:
      config.AWS_ACCESS_KEY_ID && config.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: config.AWS_ACCESS_KEY_ID,
            secretAccessKey: config.AWS_SECRET_ACCESS_KEY,
            sessionToken: config.AWS_SESSION_TOKEN,
          }
        : undefined,
  };
}

/**
 * Objects in an S3 bucket (AWS or any S3-compatible server) through `@aws-sdk/client-s3`.
 * A PutObject replaces an object whole, which is the atomicity the archive relies on.
 */
export class S3BlobStore implements BlobStore {
  readonly name = "s3";
  private readonly base: string;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    prefix = "",
    private readonly ownsClient = false,
  ) {
    this.base = prefix.replace(/^\/+|\/+$/g, "");
    if (this.base) this.base += "/";
  }

  /** Builds the client from options; the credentials go to the SDK only, never to a log or an error. */
  static create(options: S3BlobOptions): S3BlobStore {
    const config: S3ClientConfig = {
      region: options.region ?? "us-east-1",
      // Without these the SDK sends bodies with aws-chunked framing and trailing checksums, which
      // S3-compatible servers that predate it store verbatim: the object comes back corrupted.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    };
    if (options.endpoint) {
      config.endpoint = options.endpoint;
      config.forcePathStyle = true; // such servers rarely have wildcard DNS for bucket subdomains
    }
    if (options.credentials) config.credentials = options.credentials;
    return new S3BlobStore(new S3Client(config), options.bucket, options.prefix, true);
  }

  async get(objectPath: string): Promise<Buffer | undefined> {
    // The SDK retries failed requests, but not a body cut off after the headers arrived (a connection
    // reset mid-body, or a server that answered a PUT before its bytes were on disk: s3rver does).
    // Such a body is shorter than its Content-Length, or fails while streaming: read it again.
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.base + objectPath }));
        const body = Buffer.from(await res.Body!.transformToByteArray());
        if (res.ContentLength === undefined || body.length === res.ContentLength) return body;
        if (attempt === BODY_ATTEMPTS)
          throw new Error(`object body cut short (${body.length} of ${res.ContentLength} bytes)`);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        if (attempt === BODY_ATTEMPTS || !isCutShort(err)) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }

  async put(objectPath: string, body: Buffer): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.base + objectPath,
        Body: body,
        ContentLength: body.length,
      }),
    );
  }

  async delete(objectPath: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.base + objectPath }));
  }

  async list(prefix: string): Promise<string[]> {
    const paths: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.base + prefix, ContinuationToken }),
      );
      for (const object of page.Contents ?? []) if (object.Key) paths.push(object.Key.slice(this.base.length));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return paths;
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}

const BODY_ATTEMPTS = 3;

/** An error while a response was streaming in, after the SDK's own retries were done. */
function isCutShort(err: unknown): boolean {
  const e = err as { code?: string; message?: string; $metadata?: unknown };
  return (
    e?.$metadata === undefined &&
    (e?.code === "ECONNRESET" || e?.message === "aborted" || e?.code === "ERR_STREAM_PREMATURE_CLOSE")
  );
}

function isNotFound(err: unknown): boolean {
  // A missing bucket is a 404 too, and must fail loudly rather than read as an empty archive.
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || (e?.$metadata?.httpStatusCode === 404 && e?.name !== "NoSuchBucket");
}
