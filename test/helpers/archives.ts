import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type ArchiveOptions, ArchiveStore } from "../../server/state/archive";
import { startS3, type TestS3 } from "./s3";

export interface OpenArchive {
  archive: ArchiveStore;
  /** For the S3 backend: the server, to build other stores against it. */
  s3?: TestS3;
  stop(): Promise<void>;
}

export interface ArchiveBackend {
  name: string;
  open(options?: ArchiveOptions): Promise<OpenArchive>;
}

/** The cold tier's two backends, each on storage of the test's own: a temporary directory, and s3rver. */
export const archiveBackends: ArchiveBackend[] = [
  {
    name: "filesystem",
    async open(options) {
      const dir = await mkdtemp(path.join(tmpdir(), "sh-archive-"));
      const archive = ArchiveStore.onFilesystem(dir, options);
      return { archive, stop: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "S3 protocol (s3rver)",
    async open(options) {
      const s3 = await startS3();
      const archive = ArchiveStore.onS3(s3.options, options);
      return {
        archive,
        s3,
        async stop() {
          await archive.close();
          await s3.stop();
        },
      };
    },
  },
];
