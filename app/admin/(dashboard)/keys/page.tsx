import { Keys } from "../../components/keys";

export default function Page() {
  return <Keys />;
}
