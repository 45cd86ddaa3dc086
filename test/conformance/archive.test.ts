import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FilesystemArchive } from "../../server/state/archive";
import { stateStoreConformance } from "./state-store";

let dir: string;
stateStoreConformance({
  name: "archive (filesystem)",
  create: async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-archive-"));
    return new FilesystemArchive(dir);
  },
  destroy: async () => {
    await rm(dir, { recursive: true, force: true });
  },
});
