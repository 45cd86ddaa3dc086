import { ArchiveStore } from "../../server/state/archive";
import { startS3, type TestS3 } from "../helpers/s3";
import { stateStoreConformance } from "./state-store";

let s3: TestS3;
stateStoreConformance({
  name: "archive (S3 protocol, s3rver)",
  // Each write is three HTTP round trips to s3rver (pointer read, object write, pointer write; ~5-10 ms each here).
  concurrency: { writers: 4, increments: 25 },
  create: async () => {
    s3 = await startS3();
    return ArchiveStore.onS3({ ...s3.options, prefix: "statehouse/archive" });
  },
  destroy: async (store) => {
    await store.close();
    await s3.stop();
  },
});
