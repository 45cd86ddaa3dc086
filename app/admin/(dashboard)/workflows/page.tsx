import { WorkflowsPage } from "../../components/workflows";

export default function Page() {
  return <WorkflowsPage />;
}
