import { OutboxPage } from "../../components/outbox";

export default function Page() {
  return <OutboxPage />;
}
