import { Alerts } from "../../components/alerts";

export default function Page() {
  return <Alerts />;
}
