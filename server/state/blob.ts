import { randomUUID } from "node:crypto";
import type { Dirent } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Where the archive keeps its bytes: a flat space of objects named by `/`-separated paths, as object
 * storage has them. The archive (archive.ts) decides what the objects hold; a blob store only keeps them.
 * Paths are made by the archive from validated names and encoded keys: segments of [A-Za-z0-9_.-].
 */
export interface BlobStore {
  /** "filesystem" or "s3": reported as the cold tier's backend. */
  readonly name: string;
  /** The object's bytes, or undefined when there is no object at `path`. */
  get(path: string): Promise<Buffer | undefined>;
  /** Creates or replaces the object whole: a reader sees the old bytes or the new, never a part. */
  put(path: string, body: Buffer): Promise<void>;
  /** Removes the object; removing one that is not there is not an error. */
  delete(path: string): Promise<void>;
  /** Paths of every object under the folder `prefix` (which ends with `/`), at any depth, in no set order. */
  list(prefix: string): Promise<string[]>;
  /** A cheap call that proves the backend answers (and, for object storage, that the bucket exists). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const TEMP_SUFFIX = ".tmp";

/**
 * Objects as files under a root directory. A put writes a temporary file beside the target and renames
 * it into place, so a reader (or a crash) never leaves a half-written object at the path.
 */
export class FilesystemBlobStore implements BlobStore {
  readonly name = "filesystem";

  constructor(readonly root: string) {}

  async get(objectPath: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.file(objectPath));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async put(objectPath: string, body: Buffer): Promise<void> {
    const file = this.file(objectPath);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomUUID()}${TEMP_SUFFIX}`;
    try {
      await writeFile(tmp, body);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async delete(objectPath: string): Promise<void> {
    await rm(this.file(objectPath), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.file(prefix), { recursive: true, withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    return (
      entries
        // a temporary file is a put in flight, or one a crash interrupted: not an object
        .filter((e) => e.isFile() && !e.name.endsWith(TEMP_SUFFIX))
        .map((e) => path.relative(this.root, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    );
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async close(): Promise<void> {}

  private file(objectPath: string): string {
    return path.join(this.root, ...objectPath.split("/"));
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}
