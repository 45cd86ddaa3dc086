import { MemoriesPage } from "../../components/memories";

export default function Page() {
  return <MemoriesPage />;
}
