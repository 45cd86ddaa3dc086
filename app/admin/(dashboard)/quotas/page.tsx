import { QuotasPage } from "../../components/quotas";

export default function Page() {
  return <QuotasPage />;
}
