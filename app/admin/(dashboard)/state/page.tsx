import { StateBrowser } from "../../components/state-browser";

export default function Page() {
  return <StateBrowser />;
}
