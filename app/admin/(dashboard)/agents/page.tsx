import { AgentsPage } from "../../components/agents";

export default function Page() {
  return <AgentsPage />;
}
